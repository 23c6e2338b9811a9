//! The namespace lab itself: reachability between namespaces it builds, child processes
//! inside them, and cleanup that holds even when a test panics. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use netcfg::{Family, Route};
use router_tests::{lab, netns_exists};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ping(ns: &netlab::Netns, dst: &str) -> bool {
    let out = ns
        .command("ping")
        .args(["-c", "1", "-W", "2", dst])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("ping runs (Debian iputils-ping)");
    out.success()
}

#[test]
fn root_two_namespaces_reach_each_other() {
    let lab = lab("reach");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "eth0", &b, "eth0").unwrap();
    a.add_addr("eth0", "192.168.80.1/24").unwrap();
    b.add_addr("eth0", "192.168.80.2/24").unwrap();
    a.add_addr("eth0", "fd00:80::1/64").unwrap();
    b.add_addr("eth0", "fd00:80::2/64").unwrap();
    assert!(ping(&a, "192.168.80.2"));
    assert!(ping(&b, "fd00:80::1"));
    assert!(!ping(&a, "192.168.81.2"), "no route: must fail, or the check proves nothing");

    // TCP from one namespace to the other, in-process, on the namespaces' own runtimes.
    let server = b
        .spawn(|_| async {
            let l = tokio::net::TcpListener::bind("192.168.80.2:7000").await.unwrap();
            let (mut s, peer) = l.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            peer
        })
        .unwrap();
    let echoed = a
        .run(|_| async {
            let addr: SocketAddr = "192.168.80.2:7000".parse().unwrap();
            let mut s = None;
            for _ in 0..50 {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(c) => {
                        s = Some(c);
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            let mut s = s.expect("server listening within 1 s");
            s.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            buf
        })
        .unwrap();
    assert_eq!(&echoed, b"hello");
    let peer = server.join().unwrap();
    assert_eq!(peer.ip().to_string(), "192.168.80.1");
}

#[test]
fn root_routed_through_a_middle_namespace() {
    let lab = lab("routed");
    let (h1, r, h2) = (lab.netns("h1").unwrap(), lab.netns("r").unwrap(), lab.netns("h2").unwrap());
    lab.connect(&h1, "eth0", &r, "lan0").unwrap();
    lab.connect(&r, "wan0", &h2, "eth0").unwrap();
    h1.add_addr("eth0", "192.168.82.2/24").unwrap();
    r.add_addr("lan0", "192.168.82.1/24").unwrap();
    r.add_addr("wan0", "203.0.113.1/24").unwrap();
    h2.add_addr("eth0", "203.0.113.2/24").unwrap();
    assert!(!ping(&h1, "203.0.113.2"), "no route yet");
    h1.netcfg(|nc| async move {
        nc.add_route(&Route::via("0.0.0.0/0".parse().unwrap(), "192.168.82.1".parse().unwrap()))
            .await
    })
    .unwrap();
    h2.netcfg(|nc| async move {
        nc.add_route(&Route::via(
            "192.168.82.0/24".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
        ))
        .await
    })
    .unwrap();
    assert!(!ping(&h1, "203.0.113.2"), "forwarding is off by default");
    r.netcfg(|nc| async move {
        nc.set_forwarding("lan0", Family::V4, true)?;
        nc.set_forwarding("wan0", Family::V4, true)
    })
    .unwrap();
    assert!(ping(&h1, "203.0.113.2"));
}

#[test]
fn root_child_process_sees_its_namespace() {
    let lab = lab("child");
    let a = lab.netns("a").unwrap();
    let b = lab.netns("b").unwrap();
    lab.connect(&a, "veth7", &b, "eth0").unwrap();
    let out = a.command("ip").args(["-o", "link", "show"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("veth7"), "{text}");
    // /sys is this namespace's too, as with `ip netns exec`.
    let sys = a.command("ls").arg("/sys/class/net").output().unwrap();
    let sys = String::from_utf8_lossy(&sys.stdout);
    assert!(sys.contains("veth7") && !sys.contains("eth0"), "{sys}");
    // A guarded process is killed when the guard goes.
    let mut guard = a.spawn_process(a.command("sleep").arg("30").stdout(Stdio::null())).unwrap();
    let pid = guard.child().id();
    drop(guard);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "killed and reaped");
}

#[test]
fn root_lab_cleans_up_after_a_panic() {
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = names.clone();
    let result = std::panic::catch_unwind(move || {
        let lab = lab("panic");
        let a = lab.netns("a").unwrap();
        let b = lab.netns("b").unwrap();
        lab.connect(&a, "eth0", &b, "eth0").unwrap();
        *seen.lock().unwrap() = lab.names();
        assert!(lab.names().iter().all(|n| netns_exists(n)));
        // The panic happens inside the namespace thread and is resumed in the test thread.
        a.run(|_| async { panic!("deliberate panic inside the lab") }).unwrap();
    });
    assert!(result.is_err(), "the closure must have panicked");
    let names = names.lock().unwrap().clone();
    assert_eq!(names.len(), 2);
    for n in &names {
        assert!(!netns_exists(n), "{n} left behind after the panic");
    }
    let listed = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for n in &names {
        assert!(!listed.contains(n.as_str()), "ip netns list still shows {n}");
    }
}

#[test]
fn root_lab_removes_namespaces_of_killed_test_processes() {
    // A namespace named as a lab names them, for a process that no longer exists (killed with
    // SIGKILL, so its guard never ran): the next lab removes it.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let name = format!("rl{pid}-0-stale-x");
    let made = std::process::Command::new("ip").args(["netns", "add", &name]).status().unwrap();
    assert!(made.success());
    assert!(netns_exists(&name));
    let _lab = lab("stale");
    assert!(!netns_exists(&name), "{name} should have been removed as stale");
}
