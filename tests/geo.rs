//! GEO commands over raw sockets, replies compared byte for byte with what redis-server 7.0.15
//! sends for the same commands (every expected string below was captured from it), plus the
//! recorded changes and a restart (Eddy-only).

mod common;

use common::{eddy_only, qv, vget, vstr, Raw, Resp, Server};
use redis::Value;

/// Sends a command and returns its reply's exact bytes.
fn wire(r: &mut Raw, args: &[&str]) -> String {
    r.send_cmd(args);
    r.read_wire()
}

fn words(l: &str) -> Vec<&str> {
    l.split_whitespace().collect()
}

/// Runs each line and compares its reply with the expected wire text.
fn check(r: &mut Raw, cases: &[(&str, &str)]) {
    for (cmd, want) in cases {
        assert_eq!(wire(r, &words(cmd)), *want, "reply to {cmd}");
    }
}

const SICILY: &str = "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania";

fn sicily(r: &mut Raw) {
    assert_eq!(wire(r, &words(SICILY)), ":2\r\n");
    assert_eq!(
        wire(
            r,
            &words("GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2 14.015 37.2 Agrigento")
        ),
        ":3\r\n"
    );
}

#[test]
fn geoadd_scores_and_geopos_geodist_geohash_match_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(wire(&mut r, &words(SICILY)), ":2\r\n");
    check(
        &mut r,
        &[
            ("ZSCORE Sicily Palermo", "$16\r\n3479099956230698\r\n"),
            (
                "GEOPOS Sicily Palermo Catania nope",
                "*3\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n\
                 *2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n*-1\r\n",
            ),
            ("GEODIST Sicily Palermo Catania", "$11\r\n166274.1516\r\n"),
            ("GEODIST Sicily Palermo Catania km", "$8\r\n166.2742\r\n"),
            ("GEODIST Sicily Palermo Catania MI", "$8\r\n103.3182\r\n"),
            (
                "GEODIST Sicily Palermo Catania ft",
                "$11\r\n545518.8700\r\n",
            ),
            ("GEODIST Sicily Palermo nope", "$-1\r\n"),
            ("GEODIST nokey a b", "$-1\r\n"),
            (
                "GEOHASH Sicily Palermo Catania nope",
                "*3\r\n$11\r\nsqc8b49rny0\r\n$11\r\nsqdtr74hyu0\r\n$-1\r\n",
            ),
            ("GEOPOS nokey a b", "*2\r\n*-1\r\n*-1\r\n"),
            ("GEOHASH nokey a", "*1\r\n$-1\r\n"),
            // The limits themselves: the decoded centre is clamped.
            ("GEOADD x 180 85.05112878 a", ":1\r\n"),
            ("ZSCORE x a", "$17\r\n13510798882111488\r\n"),
            (
                "GEOPOS x a",
                "*1\r\n*2\r\n$3\r\n180\r\n$19\r\n85.0511287799999991\r\n",
            ),
            ("GEOHASH x a", "*1\r\n$11\r\nbp05b5048p0\r\n"),
            ("GEOADD x -180 -85.05112878 b", ":1\r\n"),
            ("ZSCORE x b", "$1\r\n0\r\n"),
        ],
    );
    // RESP3: coordinates are doubles, distances stay bulk strings, missing members are nulls.
    wire(&mut r, &["HELLO", "3"]);
    check(
        &mut r,
        &[
            (
                "GEOPOS Sicily Palermo nope",
                "*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n",
            ),
            ("GEODIST Sicily Palermo Catania", "$11\r\n166274.1516\r\n"),
            ("GEODIST Sicily nope Catania", "_\r\n"),
            ("GEOHASH Sicily nope", "*1\r\n_\r\n"),
        ],
    );
}

#[test]
fn geoadd_options_and_errors_match_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    check(
        &mut r,
        &[
            ("GEOADD g 1 1 a 2 2 b", ":2\r\n"),
            ("GEOADD g NX 5 5 a 3 3 c", ":1\r\n"),
            ("GEOADD g XX 5 5 a 4 4 d", ":0\r\n"),
            ("GEOADD g CH 6 6 a 3 3 c 7 7 e", ":2\r\n"),
            ("GEOADD g XX CH 6 6 a 8 8 b", ":1\r\n"),
            ("ZCARD g", ":4\r\n"),
            (
                "GEOADD g 181 0 a",
                "-ERR invalid longitude,latitude pair 181.000000,0.000000\r\n",
            ),
            (
                "GEOADD g 0 86 a",
                "-ERR invalid longitude,latitude pair 0.000000,86.000000\r\n",
            ),
            (
                "GEOADD g inf 0 a",
                "-ERR invalid longitude,latitude pair inf,0.000000\r\n",
            ),
            ("GEOADD g abc 1 a", "-ERR value is not a valid float\r\n"),
            ("GEOADD g 1 nan a", "-ERR value is not a valid float\r\n"),
            ("GEOADD g NX XX 1 1 a", "-ERR syntax error\r\n"),
            ("GEOADD g GT 1 1 a", "-ERR syntax error\r\n"),
            ("GEOADD g 1 1 a 2", "-ERR syntax error\r\n"),
            ("GEOADD g CH CH CH", "-ERR syntax error\r\n"),
            (
                "GEOADD g 1 1",
                "-ERR wrong number of arguments for 'geoadd' command\r\n",
            ),
            (
                "GEODIST g a b xx",
                "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
            ),
            ("GEODIST g a b km x", "-ERR syntax error\r\n"),
            ("SET s v", "+OK\r\n"),
            (
                "GEOADD s 1 1 a",
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            (
                "GEOPOS s a",
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            (
                "GEOSEARCH s FROMLONLAT 1 1 BYRADIUS 1 km",
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
        ],
    );
}

#[test]
fn geosearch_and_georadius_replies_match_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    sicily(&mut r);
    let full = "*3\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n\
                *2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n\
                *4\r\n$9\r\nAgrigento\r\n$7\r\n90.1682\r\n:3476105870866630\r\n\
                *2\r\n$20\r\n14.01500076055526733\r\n$20\r\n37.19999990441611004\r\n\
                *4\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n:3479099956230698\r\n\
                *2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n";
    check(
        &mut r,
        &[
            (
                "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH",
                full,
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km DESC WITHDIST",
                "*4\r\n*2\r\n$7\r\nCatania\r\n$8\r\n166.2742\r\n*2\r\n$9\r\nAgrigento\r\n\
                 $8\r\n116.9717\r\n*2\r\n$5\r\nedge1\r\n$7\r\n91.4007\r\n*2\r\n$7\r\nPalermo\r\n\
                 $6\r\n0.0000\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 2 WITHDIST",
                "*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$9\r\nAgrigento\r\n\
                 $7\r\n90.1682\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 1 ANY",
                "*1\r\n$9\r\nAgrigento\r\n",
            ),
            (
                "GEORADIUS Sicily 15 37 200 km WITHDIST ASC",
                "*3\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$9\r\nAgrigento\r\n\
                 $7\r\n90.1682\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n",
            ),
            (
                "GEORADIUSBYMEMBER_RO Sicily Agrigento 100 mi WITHDIST",
                "*3\r\n*2\r\n$9\r\nAgrigento\r\n$6\r\n0.0000\r\n*2\r\n$7\r\nPalermo\r\n\
                 $7\r\n72.6830\r\n*2\r\n$7\r\nCatania\r\n$7\r\n62.5136\r\n",
            ),
            ("GEOSEARCH nokey FROMMEMBER x BYRADIUS 1 km", "*0\r\n"),
            ("GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 1 km", "*0\r\n"),
        ],
    );
    wire(&mut r, &["HELLO", "3"]);
    check(
        &mut r,
        &[(
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH",
            "*3\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n\
             *2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n\
             *4\r\n$9\r\nAgrigento\r\n$7\r\n90.1682\r\n:3476105870866630\r\n\
             *2\r\n,14.01500076055526733\r\n,37.19999990441611004\r\n\
             *4\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n:3479099956230698\r\n\
             *2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n",
        )],
    );
}

#[test]
fn search_stores_match_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    sicily(&mut r);
    check(
        &mut r,
        &[
            (
                "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
                ":3\r\n",
            ),
            (
                "ZRANGE dst 0 -1 WITHSCORES",
                "*6\r\n$7\r\nCatania\r\n$18\r\n56.441257870158204\r\n$9\r\nAgrigento\r\n\
                 $18\r\n90.168166166239473\r\n$7\r\nPalermo\r\n$18\r\n190.44242984775784\r\n",
            ),
            ("GEORADIUS Sicily 15 37 200 km STORE dst2", ":3\r\n"),
            (
                "ZRANGE dst2 0 -1 WITHSCORES",
                "*6\r\n$9\r\nAgrigento\r\n$16\r\n3476105870866630\r\n$7\r\nPalermo\r\n\
                 $16\r\n3479099956230698\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n",
            ),
            (
                "GEORADIUSBYMEMBER Sicily Palermo 100 km STOREDIST dst2 COUNT 1",
                ":1\r\n",
            ),
            ("ZRANGE dst2 0 -1", "*1\r\n$7\r\nPalermo\r\n"),
            // An empty result deletes the destination.
            (
                "GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 m",
                ":0\r\n",
            ),
            ("EXISTS dst", ":0\r\n"),
            ("GEORADIUS nokey 1 1 1 km STORE dst2", ":0\r\n"),
            ("EXISTS dst2", ":0\r\n"),
        ],
    );
}

#[test]
fn search_errors_match_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    sicily(&mut r);
    check(
        &mut r,
        &[
            (
                "GEOSEARCH Sicily FROMMEMBER nope BYRADIUS 10 km",
                "-ERR could not decode requested zset member\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS x km",
                "-ERR need numeric radius\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS -1 km",
                "-ERR radius cannot be negative\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1 kk",
                "-ERR unsupported unit provided. please use M, KM, FT, MI\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX x 1 km",
                "-ERR need numeric width\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 x km",
                "-ERR need numeric height\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX -1 1 km",
                "-ERR height or width cannot be negative\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1 km BYRADIUS 1 km",
                "-ERR syntax error\r\n",
            ),
            (
                "GeoSearch Sicily BYRADIUS 1 km ASC DESC",
                "-ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GeoSearch\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 1 ASC WITHHASH",
                "-ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 km ANY",
                "-ERR the ANY argument requires COUNT argument\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 km COUNT 0",
                "-ERR COUNT must be > 0\r\n",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 km STORE d",
                "-ERR syntax error\r\n",
            ),
            (
                "GEOSEARCHSTORE d Sicily FROMLONLAT 1 1 BYRADIUS 1 km WITHDIST",
                "-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n",
            ),
            (
                "GEORADIUS Sicily 1 1 1 km STORE d WITHDIST",
                "-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n",
            ),
            ("GEORADIUS_RO Sicily 1 1 1 km STORE d", "-ERR syntax error\r\n"),
            (
                "GEORADIUS Sicily 1 100 1 km",
                "-ERR invalid longitude,latitude pair 1.000000,100.000000\r\n",
            ),
            // A missing key makes BYMEMBER skip the radius checks, as in Redis.
            ("GEORADIUSBYMEMBER nokey m x kx", "*0\r\n"),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Eddy-only: recorded changes, restart

fn last_offset(c: &mut redis::Connection) -> i64 {
    match vget(&qv(c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("last-offset: {other:?}"),
    }
}

/// Runs `args` and returns `key event: args` of each change it recorded.
fn events_of(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let from = last_offset(c) + 1;
    let _ = common::cmd(args).query::<Value>(c);
    let v = qv(c, &["CHANGES", "READ", &from.to_string(), "COUNT", "100"]);
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    items
        .iter()
        .map(|e| {
            let s = |f: &str| vget(e, f).as_ref().and_then(vstr).unwrap_or_default();
            let args: Vec<String> = match vget(e, "args") {
                Some(Value::Array(a)) => a.iter().filter_map(vstr).collect(),
                _ => Vec::new(),
            };
            format!("{} {}: {}", s("key"), s("event"), args.join(" "))
        })
        .collect()
}

#[test]
fn geo_writes_record_zadd_and_stored_results() {
    if !eddy_only("geo_writes_record_zadd_and_stored_results") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let w = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let cases: &[(&str, &[&str])] = &[
        (
            SICILY,
            &["Sicily zadd: ZADD Sicily 3479099956230698 Palermo 3479447370796909 Catania"],
        ),
        ("GEOADD Sicily NX 1 1 Palermo", &[]),
        (
            "GEOADD Sicily CH 13.361389 38.115556 Palermo 1 1 x",
            &["Sicily zadd: ZADD Sicily 3377822707026402 x"],
        ),
        (
            "GEOSEARCHSTORE d Sicily FROMMEMBER Palermo BYRADIUS 200 km",
            &["d geosearchstore: ZADD d 3479099956230698 Palermo 3479447370796909 Catania"],
        ),
        (
            "GEORADIUS Sicily 15 37 100 km STORE d",
            &[
                "d del: DEL d",
                "d georadiusstore: ZADD d 3479447370796909 Catania",
            ],
        ),
        (
            "GEOSEARCHSTORE d Sicily FROMLONLAT 0 0 BYRADIUS 1 m",
            &["d del: DEL d"],
        ),
        ("GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 1 m", &[]),
    ];
    for (cmd, want) in cases {
        let args = w(cmd);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(events_of(&mut c, &args), *want, "{cmd}");
    }
}

#[test]
fn geo_members_survive_a_restart_with_identical_scores() {
    if !eddy_only("geo_members_survive_a_restart_with_identical_scores") {
        return;
    }
    let mut srv = Server::start();
    let mut r = srv.raw();
    sicily(&mut r);
    let scores = "ZRANGE Sicily 0 -1 WITHSCORES";
    let before = wire(&mut r, &words(scores));
    let pos = "GEOPOS Sicily Palermo Catania Agrigento";
    let pos_before = wire(&mut r, &words(pos));
    r.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    let st = srv.wait_exit(std::time::Duration::from_secs(20));
    assert!(st.is_some(), "server did not exit after SHUTDOWN NOSAVE");
    let dir = srv.stop();
    let srv = Server::start_in(dir, &[]);
    let mut r = srv.raw();
    assert_eq!(wire(&mut r, &words(scores)), before);
    assert_eq!(wire(&mut r, &words(pos)), pos_before);
    assert!(before.contains("3479099956230698"), "{before}");
}

#[test]
fn equal_distances_in_order_without_count_and_by_group_with_it() {
    let srv = Server::start();
    let mut r = srv.raw();
    let mut add = vec!["GEOADD".to_string(), "t".to_string()];
    for i in 0..12 {
        add.extend([format!("1.{}", i % 3), "2".into(), format!("p{i}")]);
    }
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    assert_eq!(wire(&mut r, &add), ":12\r\n");
    // With COUNT, Redis leaves the order of equal distances (and which of several equally
    // distant points make the cut) unspecified: check the distances and the groups.
    let name = |v: &Resp| match v {
        Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{other:?}"),
    };
    let group = |i: usize, of: usize| -> Vec<String> {
        let mut g: Vec<String> = (0..12)
            .filter(|k| k % 3 == of)
            .map(|k| format!("p{k}"))
            .collect();
        g.truncate(i);
        g
    };
    let rows = match r.call(&words(
        "GEOSEARCH t FROMLONLAT 1 2 BYRADIUS 100 km COUNT 5 WITHDIST",
    )) {
        Resp::Array(v) => v,
        other => panic!("{other:?}"),
    };
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|row| match row {
            Resp::Array(v) => (name(&v[0]), name(&v[1])),
            other => panic!("{other:?}"),
        })
        .collect();
    let dists: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(dists, ["0.0000", "0.0000", "0.0000", "0.0000", "11.1156"]);
    let mut nearest: Vec<String> = pairs[..4].iter().map(|p| p.0.clone()).collect();
    nearest.sort();
    assert_eq!(nearest, group(4, 0));
    assert!(group(4, 1).contains(&pairs[4].0), "{pairs:?}");
    let names: Vec<String> = match r.call(&words(
        "GEOSEARCH t FROMLONLAT 1 2 BYRADIUS 100 km DESC COUNT 7",
    )) {
        Resp::Array(v) => v.iter().map(name).collect(),
        other => panic!("{other:?}"),
    };
    let mut farthest = names[..4].to_vec();
    farthest.sort();
    let mut far = group(4, 2);
    far.sort();
    assert_eq!(farthest, far);
    assert!(
        names[4..].iter().all(|n| group(4, 1).contains(n)),
        "{names:?}"
    );
    check(
        &mut r,
        &[
            (
                "GEOSEARCH t FROMLONLAT 1 2 BYRADIUS 100 km DESC",
                "*12\r\n$3\r\np11\r\n$2\r\np2\r\n$2\r\np5\r\n$2\r\np8\r\n$2\r\np1\r\n$3\r\np10\r\n\
                 $2\r\np4\r\n$2\r\np7\r\n$2\r\np0\r\n$2\r\np3\r\n$2\r\np6\r\n$2\r\np9\r\n",
            ),
            (
                "COMMAND GETKEYS georadius k 1 1 1 km STOREDIST e STORE d",
                "*3\r\n$1\r\nk\r\n$1\r\nd\r\n$1\r\ne\r\n",
            ),
            (
                "COMMAND GETKEYS georadiusbymember k m 1 km STORE d",
                "*2\r\n$1\r\nk\r\n$1\r\nd\r\n",
            ),
            (
                "COMMAND GETKEYS georadius k 1 1 1 STORE d",
                "*1\r\n$1\r\nk\r\n",
            ),
        ],
    );
}
