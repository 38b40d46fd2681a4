"""Bridge networking: the default `bridge` network (a Linux bridge with its
own subnet), a veth per container in a network namespace made beforehand,
addresses from a persistent IPAM, outbound NAT, and published ports.

    networks   the verbs on networks (create, ls, inspect, rm, prune)
    endpoints  a container's side: attach, detach, connect, disconnect
    bridge     the Linux bridge (netlink in Rust, net.rs) and its sysctls
    ipam       subnets and addresses
    firewall   ketch's iptables chains and rules
    ports      published ports: parsing, holding, the [::] proxies
    dns        a container's hosts file and resolv.conf
    settings   the KETCH_* variables networking reads

Light on purpose: `ketch run` imports `network.dns` for every container."""

DEFAULT = "bridge"
PREDEFINED = ("bridge", "host", "none")
