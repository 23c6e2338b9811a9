//! routerd with its WAN by DHCP (IPoE), against ISC Kea as the ISP: kea-dhcp4 leases the
//! WAN address, kea-dhcp6 delegates a /48 on the same link. The LAN host's traffic leaves
//! NATed to the leased address, and the LAN is numbered from the delegated prefix. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netcfg::Route;
use router_tests::wan::bin;
use router_tests::{PeerEcho, kea, lab, peer_seen};

#[test]
fn root_routerd_wan_by_dhcp_from_kea_with_prefix_delegation() {
    let lab = lab("ipoe");
    let (lan, router, isp) =
        (lab.netns("lan").unwrap(), lab.netns("r").unwrap(), lab.netns("isp").unwrap());
    lab.connect(&lan, "eth0", &router, "lan0").unwrap();
    lab.connect(&router, "eth0", &isp, "eth0").unwrap();
    isp.add_addr("eth0", "198.51.100.1/24").unwrap();
    isp.add_addr("eth0", "fd00::1/64").unwrap();
    lan.add_addr("eth0", "192.168.1.50/24").unwrap();
    lan.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "192.168.1.1".parse().unwrap()))
            .await
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("routerd-ipoe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let (d4, d6) = (dir.join("kea4"), dir.join("kea6"));
    let _kea4 = kea::start(
        &isp,
        &d4,
        false,
        &format!(
            r#"{{"Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}/leases4.csv", "lfc-interval": 0 }},
  "valid-lifetime": 600,
  "subnet4": [{{ "id": 1, "subnet": "198.51.100.0/24", "pools": [{{ "pool": "198.51.100.100 - 198.51.100.199" }}],
    "option-data": [{{ "name": "routers", "data": "198.51.100.1" }},
                    {{ "name": "domain-name-servers", "data": "198.51.100.1" }}] }}],
  "loggers": [{{ "name": "kea-dhcp4", "output_options": [{{ "output": "{}/kea.log" }}], "severity": "INFO" }}]
}}}}"#,
            d4.display(),
            d4.display()
        ),
    );
    kea::wait_dad(&isp, "eth0");
    let _kea6 = kea::start(
        &isp,
        &d6,
        true,
        &format!(
            r#"{{"Dhcp6": {{
  "interfaces-config": {{ "interfaces": ["eth0"] }},
  "data-directory": "{}",
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{}/leases6.csv", "lfc-interval": 0 }},
  "preferred-lifetime": 3000, "valid-lifetime": 4000,
  "subnet6": [{{ "id": 1, "subnet": "fd00::/64", "interface": "eth0",
    "pd-pools": [{{ "prefix": "2001:db8:100::", "prefix-len": 40, "delegated-len": 48 }}] }}],
  "loggers": [{{ "name": "kea-dhcp6", "output_options": [{{ "output": "{}/kea.log" }}], "severity": "INFO" }}]
}}}}"#,
            d6.display(),
            d6.display(),
            d6.display()
        ),
    );

    let config = dir.join("routerd.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{}"
[wan]
interface = "eth0"
mode = "dhcp"
[wan.ipv6]
pd_length = 48
[[lan]]
name = "lan"
interface = "lan0"
ipv4 = "192.168.1.1/24"
subnet_id = 1
[control]
socket = "{}"
"#,
            dir.join("state").display(),
            dir.join("control.sock").display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("routerd.log")).unwrap();
    let mut cmd = router.command(bin("routerd"));
    cmd.arg("run").arg("--config").arg(&config).stdout(log.try_clone().unwrap()).stderr(log);
    let mut routerd = router.spawn_process(&mut cmd).unwrap();
    let logs = || std::fs::read_to_string(dir.join("routerd.log")).unwrap_or_default();
    let ctl = |what: &str| {
        let out = std::process::Command::new(bin("routerctl"))
            .arg("--socket")
            .arg(dir.join("control.sock"))
            .args([what, "--json"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !logs().contains("router ready") {
        assert!(Instant::now() < until, "not ready within 20 s:\n{}", logs());
        assert!(routerd.child().try_wait().unwrap().is_none(), "routerd exited:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let wan: serde_json::Value = serde_json::from_str(&ctl("wan")).unwrap();
    let public = wan["ipv4"].as_str().unwrap().to_string();
    assert!(public.starts_with("198.51.100.1"), "leased by Kea: {wan}");
    assert_eq!(wan["dns"][0], "198.51.100.1", "{wan}");
    let prefixes = ctl("prefixes");
    assert!(prefixes.contains("2001:db8:1") && prefixes.contains("/48"), "{prefixes}");
    let addrs = router.command("ip").args(["-6", "addr", "show", "dev", "lan0"]).output().unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout).into_owned();
    assert!(addrs.contains(":1::1/64"), "LAN numbered by subnet id 1: {addrs}");

    // The LAN host's traffic leaves NATed to the leased address.
    let echo = PeerEcho::start(&isp, "198.51.100.1:8080".parse::<SocketAddr>().unwrap());
    let seen = peer_seen(&lan, "198.51.100.1:8080".parse().unwrap(), Duration::from_secs(5));
    assert_eq!(seen.as_deref(), Some(public.as_str()), "NATed to the DHCP address");
    drop(echo);

    // SIGTERM: a clean stop; Kea's lease is released (routerd sends DHCPRELEASE).
    let pid = routerd.child().id();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(8);
    while routerd.child().try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "routerd did not stop on SIGTERM:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let kea_log = std::fs::read_to_string(d4.join("kea.log")).unwrap_or_default();
    assert!(kea_log.contains("DHCP4_RELEASE"), "Kea saw the release:\n{kea_log}");
    let _ = std::fs::remove_dir_all(&dir);
}
