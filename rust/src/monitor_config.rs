//! The container process's configuration as JSON: what the Python side
//! writes for the monitor program (the same keys as the `process` dict
//! `_native.spawn` takes), and what `spawn` hands the helper it re-executes
//! (reexec.rs) so that the process crossing into the container is never a
//! copy of the caller.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::seccomp::{ArgCmp, Op, Profile, Rule};
use crate::spawn::{Config, DOCKER_CAPS, INHERIT};

fn id(v: &Value, what: &str) -> Result<u32, String> {
    match v {
        Value::Null => Ok(0),
        _ => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{what} must be a number from 0 to 4294967295")),
    }
}

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
        uid: id(&p["uid"], "uid")?,
        gid: id(&p["gid"], "gid")?,
        groups: p["groups"]
            .as_array()
            .map(|a| a.iter().map(|x| id(x, "a group id")).collect())
            .unwrap_or(Ok(Vec::new()))?,
        new_net: p["new_net"].as_bool().unwrap_or(true),
        files: pairs(&p["files"]),
        caps: p["caps"].as_u64().unwrap_or(DOCKER_CAPS),
        cgroup_procs: paths(&p["cgroup_procs"]),
        stdio: INHERIT,
        tty: p["tty"].as_bool().unwrap_or(false),
        tty_socket: -1,
        binds,
        tmpfs: strs(&p["tmpfs"]),
        readonly_root: p["readonly_root"].as_bool().unwrap_or(false),
        privileged: p["privileged"].as_bool().unwrap_or(false),
        seccomp: seccomp(&p["seccomp"])?,
        no_new_privileges: p["no_new_privileges"].as_bool().unwrap_or(false),
        detached: p["detached"].as_bool().unwrap_or(false),
        netns: p["netns"].as_str().map(PathBuf::from),
        helper: path(&p["helper"], "/proc/self/exe"),
    })
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "EQ",
        Op::Ne => "NE",
        Op::Lt => "LT",
        Op::Le => "LE",
        Op::Gt => "GT",
        Op::Ge => "GE",
        Op::MaskedEq => "MASKED_EQ",
    }
}

/// The inverse of `config_from_json` (descriptors are not part of it: they
/// travel as numbers on the helper's command line).
pub fn config_to_json(c: &Config) -> Value {
    let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
    json!({
        "rootfs": s(&c.rootfs),
        "lowerdirs": c.lowerdirs.iter().map(|p| s(p)).collect::<Vec<_>>(),
        "upperdir": s(&c.upperdir),
        "workdir": s(&c.workdir),
        "hostname": c.hostname,
        "argv": c.argv,
        "env": c.env,
        "cwd": c.cwd,
        "uid": c.uid,
        "gid": c.gid,
        "groups": c.groups,
        "new_net": c.new_net,
        "files": c.files.iter().map(|(src, dst)| json!([s(src), dst])).collect::<Vec<_>>(),
        "caps": c.caps,
        "cgroup_procs": c.cgroup_procs.iter().map(|p| s(p)).collect::<Vec<_>>(),
        "tty": c.tty,
        "binds": c.binds.iter().map(|(src, dst, ro)| json!([s(src), dst, ro])).collect::<Vec<_>>(),
        "tmpfs": c.tmpfs,
        "readonly_root": c.readonly_root,
        "privileged": c.privileged,
        "seccomp": c.seccomp.as_ref().map(|p| json!({
            "default": p.default_action,
            "arches": p.arches,
            "rules": p.rules.iter().map(|r| json!([
                r.names,
                r.action,
                r.args.iter().map(|a| json!([a.index, op_name(a.op), a.value, a.value_two])).collect::<Vec<_>>(),
            ])).collect::<Vec<_>>(),
        })),
        "no_new_privileges": c.no_new_privileges,
        "detached": c.detached,
        "netns": c.netns.as_ref().map(|p| s(p)),
        "helper": s(&c.helper),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_survive_the_trip_to_the_helper() {
        let v = json!({
            "argv": ["sh", "-c", "true"], "env": ["A=b"], "cwd": "/w", "uid": 1000, "gid": 4294967295u64,
            "groups": [5], "binds": [["/src", "/dst", true]], "files": [["/h", "/etc/hosts"]],
            "helper": "/opt/ketch-monitor", "detached": true, "tty": true, "netns": "/run/n",
            "seccomp": {"default": 327681, "arches": ["x86", "x32"], "rules": [[["socket"], 2147418112u64, [[0, "NE", 40, 0]]]]},
        });
        let c = config_from_json(&v).unwrap();
        let back = config_from_json(&config_to_json(&c)).unwrap();
        assert_eq!(format!("{c:?}"), format!("{back:?}"));
        assert_eq!(
            (back.uid, back.gid, back.detached, back.tty),
            (1000, u32::MAX, true, true)
        );
        assert_eq!(back.helper, PathBuf::from("/opt/ketch-monitor"));
    }

    #[test]
    fn ids_that_do_not_fit_are_refused() {
        let v = json!({"argv": ["x"], "uid": 4294967296u64});
        assert!(config_from_json(&v).unwrap_err().contains("uid"));
        let v = json!({"argv": ["x"], "groups": [-1]});
        assert!(config_from_json(&v).is_err());
    }
}
