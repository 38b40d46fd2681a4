//! The monitor program's configuration: the JSON the Python side writes
//! (the same keys as the `process` dict `_native.spawn` takes).

use std::path::PathBuf;

use serde_json::Value;

use crate::seccomp::{ArgCmp, Op, Profile, Rule};
use crate::spawn::{Config, DOCKER_CAPS, INHERIT};

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn paths(v: &Value) -> Vec<PathBuf> {
    strs(v).into_iter().map(PathBuf::from).collect()
}

fn path(v: &Value, default: &str) -> PathBuf {
    PathBuf::from(v.as_str().unwrap_or(default))
}

fn seccomp(v: &Value) -> Result<Option<Profile>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let default_action = v["default"].as_u64().ok_or("seccomp.default missing")? as u32;
    let mut rules = Vec::new();
    for r in v["rules"].as_array().cloned().unwrap_or_default() {
        let names = strs(&r[0]);
        let action = r[1].as_u64().ok_or("seccomp rule action")? as u32;
        let mut args = Vec::new();
        for a in r[2].as_array().cloned().unwrap_or_default() {
            args.push(ArgCmp {
                index: a[0].as_u64().ok_or("seccomp arg index")? as u32,
                op: Op::parse(a[1].as_str().ok_or("seccomp arg op")?).map_err(|e| e.to_string())?,
                value: a[2].as_u64().ok_or("seccomp arg value")?,
                value_two: a[3].as_u64().unwrap_or(0),
            });
        }
        rules.push(Rule {
            names,
            action,
            args,
        });
    }
    Ok(Some(Profile {
        default_action,
        rules,
        arches: strs(&v["arches"]),
    }))
}

/// The container's process, from the `process` object.
pub fn config_from_json(p: &Value) -> Result<Config, String> {
    let argv = strs(&p["argv"]);
    if argv.is_empty() {
        return Err("process.argv missing".into());
    }
    let pairs = |v: &Value| -> Vec<(PathBuf, String)> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        Some((PathBuf::from(x[0].as_str()?), x[1].as_str()?.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let binds = p["binds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        PathBuf::from(x[0].as_str()?),
                        x[1].as_str()?.to_string(),
                        x[2].as_bool().unwrap_or(false),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Config {
        rootfs: path(&p["rootfs"], "/"),
        lowerdirs: paths(&p["lowerdirs"]),
        upperdir: path(&p["upperdir"], ""),
        workdir: path(&p["workdir"], ""),
        hostname: p["hostname"].as_str().unwrap_or("").to_string(),
        argv,
        env: strs(&p["env"]),
        cwd: p["cwd"].as_str().unwrap_or("/").to_string(),
        uid: p["uid"].as_u64().unwrap_or(0) as u32,
        gid: p["gid"].as_u64().unwrap_or(0) as u32,
        groups: p["groups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64().map(|g| g as u32))
                    .collect()
            })
            .unwrap_or_default(),
        new_net: p["new_net"].as_bool().unwrap_or(true),
        files: pairs(&p["files"]),
        caps: p["caps"].as_u64().unwrap_or(DOCKER_CAPS),
        cgroup_procs: paths(&p["cgroup_procs"]),
        stdio: INHERIT,
        tty: false,
        tty_socket: -1,
        binds,
        tmpfs: strs(&p["tmpfs"]),
        readonly_root: p["readonly_root"].as_bool().unwrap_or(false),
        privileged: p["privileged"].as_bool().unwrap_or(false),
        seccomp: seccomp(&p["seccomp"])?,
        no_new_privileges: p["no_new_privileges"].as_bool().unwrap_or(false),
        detached: false,
        netns: p["netns"].as_str().map(PathBuf::from),
    })
}

/// `[[fd, "ip", port], ...]`: the `[::]` listeners to proxy.
pub fn proxies_from_json(v: &Value) -> Result<Vec<(i32, std::net::SocketAddrV4)>, String> {
    let mut out = Vec::new();
    for x in v.as_array().cloned().unwrap_or_default() {
        let fd = x[0].as_i64().ok_or("proxy fd")? as i32;
        let ip: std::net::Ipv4Addr = x[1]
            .as_str()
            .ok_or("proxy ip")?
            .parse()
            .map_err(|_| "proxy ip")?;
        let port = x[2].as_u64().ok_or("proxy port")? as u16;
        out.push((fd, std::net::SocketAddrV4::new(ip, port)));
    }
    Ok(out)
}
