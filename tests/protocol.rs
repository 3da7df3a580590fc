//! RESP on the wire, over raw TCP: inline commands, frames split across writes, deep pipelines,
//! protocol errors (and that they close only the offending connection), command-resolution
//! errors, and RESP3 negotiated with HELLO.

mod common;

use common::{encode_cmd, Raw, Resp, Server};
use std::io::Write;
use std::time::Duration;

const CLOSE_WAIT: Duration = Duration::from_secs(3);

fn err(s: &str) -> Resp {
    Resp::Error(s.to_string())
}

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

/// A protocol error is answered with `expected`, then the connection is closed, and a fresh
/// connection to the same server still works.
fn assert_protocol_error(srv: &Server, input: &[u8], expected: &str) {
    let mut c = srv.raw();
    c.send(input);
    assert_eq!(
        c.read_reply(),
        err(expected),
        "reply to {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(
        c.closed_within(CLOSE_WAIT),
        "connection not closed after protocol error for {:?}",
        String::from_utf8_lossy(input)
    );
    // Another connection still works (NOAUTH counts as working when a password is set).
    let mut fresh = srv.raw();
    let r = fresh.call(&["PING"]);
    assert!(
        r == Resp::Simple("PONG".into())
            || r == Resp::Error("NOAUTH Authentication required.".into()),
        "{r:?}"
    );
}

#[test]
fn inline_ping_replies_pong() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"PING\r\n");
    assert_eq!(c.read_wire(), "+PONG\r\n");
}

#[test]
fn inline_set_with_quoted_value_keeps_the_space() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"SET a \"b c\"\r\n");
    assert_eq!(c.read_wire(), "+OK\r\n");
    c.send(b"GET a\r\n");
    assert_eq!(c.read_wire(), "$3\r\nb c\r\n");
}

#[test]
fn inline_quoted_escapes_are_decoded() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"SET k \"x\\x41\\n\" \r\n");
    assert_eq!(c.read_wire(), "+OK\r\n");
    c.send(b"SET q 'it''s'\r\n");
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: unbalanced quotes in request")
    );
    let mut c = srv.raw();
    assert_eq!(c.call(&["GET", "k"]), bulk("xA\n"));
}

#[test]
fn inline_empty_lines_are_ignored_and_bare_lf_is_accepted() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"\r\n\r\nPING\r\nPING\n");
    assert_eq!(c.read_wire(), "+PONG\r\n");
    assert_eq!(c.read_wire(), "+PONG\r\n");
    c.send(b"ECHO hello\r\n");
    assert_eq!(c.read_wire(), "$5\r\nhello\r\n");
}

#[test]
fn empty_multibulk_is_ignored() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(c.read_wire(), "+PONG\r\n");
    assert!(c.try_read_reply(Duration::from_millis(200)).is_none());
}

#[test]
fn set_frame_split_at_every_byte_position_is_reassembled() {
    let srv = Server::start();
    let mut c = srv.raw();
    let frame = encode_cmd(&[b"SET", b"split-key", b"split value with \r\n inside"]);
    for at in 1..frame.len() {
        c.send(&frame[..at]);
        c.send(&frame[at..]);
        assert_eq!(c.read_wire(), "+OK\r\n", "split at byte {at}");
    }
    // One byte per write.
    let frame = encode_cmd(&[b"SET", b"byte-by-byte", b"v"]);
    for b in &frame {
        c.send(std::slice::from_ref(b));
    }
    assert_eq!(c.read_wire(), "+OK\r\n");
    assert_eq!(
        c.call(&["GET", "split-key"]),
        bulk("split value with \r\n inside")
    );
    assert_eq!(c.call(&["GET", "byte-by-byte"]), bulk("v"));
}

#[test]
fn two_frames_in_one_write_and_a_frame_straddling_writes() {
    let srv = Server::start();
    let mut c = srv.raw();
    let mut bytes = encode_cmd(&[b"SET", b"a", b"1"]);
    bytes.extend(encode_cmd(&[b"SET", b"b", b"2"]));
    let third = encode_cmd(&[b"GET", b"a"]);
    bytes.extend_from_slice(&third[..5]);
    c.send(&bytes);
    assert_eq!(c.read_wire(), "+OK\r\n");
    assert_eq!(c.read_wire(), "+OK\r\n");
    c.send(&third[5..]);
    assert_eq!(c.read_wire(), "$1\r\n1\r\n");
}

#[test]
fn pipeline_of_10000_commands_gets_all_replies_in_order() {
    let srv = Server::start();
    let mut c = srv.raw();
    const N: usize = 10_000;
    let mut batch = Vec::new();
    let mut expected = Vec::with_capacity(N);
    let mut counter = 0i64;
    for i in 0..N {
        match i % 4 {
            0 => {
                batch.extend(encode_cmd(&[
                    b"SET",
                    format!("p:{i}").as_bytes(),
                    format!("value-{i}").as_bytes(),
                ]));
                expected.push("+OK\r\n".to_string());
            }
            1 => {
                let v = format!("value-{}", i - 1);
                batch.extend(encode_cmd(&[b"GET", format!("p:{}", i - 1).as_bytes()]));
                expected.push(format!("${}\r\n{v}\r\n", v.len()));
            }
            2 => {
                counter += 1;
                batch.extend(encode_cmd(&[b"INCR", b"counter"]));
                expected.push(format!(":{counter}\r\n"));
            }
            _ => {
                let m = format!("echo-{i}");
                batch.extend(encode_cmd(&[b"ECHO", m.as_bytes()]));
                expected.push(format!("${}\r\n{m}\r\n", m.len()));
            }
        }
    }
    // Write everything at once from another thread while this one reads, so neither side's
    // buffers can deadlock the test.
    let mut w = c.stream.try_clone().expect("clone stream");
    let writer = std::thread::spawn(move || {
        w.write_all(&batch).expect("write batch");
    });
    for (i, exp) in expected.iter().enumerate() {
        let got = c.read_wire();
        assert_eq!(&got, exp, "reply #{i} out of {N}");
    }
    writer.join().expect("writer thread");
    assert!(c.try_read_reply(Duration::from_millis(100)).is_none());
}

#[test]
fn negative_bulk_length_is_a_protocol_error_and_closes() {
    let srv = Server::start();
    assert_protocol_error(
        &srv,
        b"*1\r\n$-5\r\n",
        "ERR Protocol error: invalid bulk length",
    );
}

#[test]
fn non_numeric_bulk_length_is_a_protocol_error_and_closes() {
    let srv = Server::start();
    assert_protocol_error(
        &srv,
        b"*1\r\n$abc\r\n",
        "ERR Protocol error: invalid bulk length",
    );
}

#[test]
fn non_numeric_multibulk_length_is_a_protocol_error_and_closes() {
    let srv = Server::start();
    assert_protocol_error(
        &srv,
        b"*x\r\n",
        "ERR Protocol error: invalid multibulk length",
    );
}

#[test]
fn simple_string_inside_a_command_array_is_rejected() {
    let srv = Server::start();
    assert_protocol_error(
        &srv,
        b"*1\r\n+OK\r\n",
        "ERR Protocol error: expected '$', got '+'",
    );
}

#[test]
fn bulk_beyond_default_proto_max_bulk_len_is_rejected() {
    let srv = Server::start();
    // Default proto-max-bulk-len is 512mb.
    assert_protocol_error(
        &srv,
        b"*2\r\n$3\r\nGET\r\n$600000000\r\n",
        "ERR Protocol error: invalid bulk length",
    );
}

#[test]
fn bulk_beyond_configured_proto_max_bulk_len_is_rejected() {
    let srv = Server::start_with(&["--proto-max-bulk-len", "1048576"]);
    assert_protocol_error(
        &srv,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    // Exactly the limit is allowed.
    let mut c = srv.raw();
    let big = vec![b'x'; 1_048_576];
    c.send(&encode_cmd(&[b"SET", b"k", &big]));
    assert_eq!(c.read_wire(), "+OK\r\n");
    assert_eq!(c.call(&["STRLEN", "k"]), Resp::Int(1_048_576));
}

#[test]
fn unbalanced_quotes_inline_is_a_protocol_error() {
    let srv = Server::start();
    assert_protocol_error(
        &srv,
        b"SET a \"b c\r\n",
        "ERR Protocol error: unbalanced quotes in request",
    );
}

#[test]
fn inline_request_over_64k_without_newline_is_rejected() {
    let srv = Server::start();
    let big = vec![b'a'; 70_000];
    assert_protocol_error(&srv, &big, "ERR Protocol error: too big inline request");
}

#[test]
fn inline_request_with_a_nul_waits_for_a_newline_after_it_as_redis_does() {
    // Once a server-wide hang: the inline splitter looped on the NUL, allocating without end.
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"ECHO a\0b\r\nPING\r\n");
    assert!(c.try_read_reply(Duration::from_millis(300)).is_none());
    let mut fill = vec![b'x'; 70_000];
    fill.extend_from_slice(b"\r\n");
    c.send(&fill);
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: too big inline request")
    );
    assert!(c.closed_within(CLOSE_WAIT));
    let mut fresh = srv.raw();
    assert_eq!(fresh.call(&["PING"]), Resp::Simple("PONG".into()));
}

#[test]
fn inline_vertical_tab_separates_arguments_only_before_them() {
    // C's isspace skips it between arguments, but only space, tab, CR, LF end one.
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"\x0b\x0cECHO a\x0bb\r\n");
    assert_eq!(c.read_wire(), "$3\r\na\x0bb\r\n");
    // Error text keeps such bytes (and quotes); only CR and LF are blanked.
    c.send(b"ECHO\x0b x\r\n");
    assert_eq!(
        c.read_wire(),
        "-ERR unknown command 'ECHO\x0b', with args beginning with: 'x' \r\n"
    );
    c.send(&encode_cmd(&[b"n\r\no", b"a\nb", b"q'q"]));
    assert_eq!(
        c.read_wire(),
        "-ERR unknown command 'n  o', with args beginning with: 'a b' 'q'q' \r\n"
    );
    // Arguments are listed until 128 bytes of them are, the last one cut to fit.
    let long = "y".repeat(200);
    c.send(&encode_cmd(&[
        b"nope",
        b"x".repeat(100).as_slice(),
        long.as_bytes(),
        b"z",
    ]));
    assert_eq!(
        c.read_wire(),
        format!(
            "-ERR unknown command 'nope', with args beginning with: '{}' '{}' \r\n",
            "x".repeat(100),
            "y".repeat(25)
        )
    );
}

#[test]
fn replies_before_a_protocol_error_are_delivered() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(b"*1\r\n$4\r\nPING\r\n*1\r\n$-5\r\n");
    assert_eq!(c.read_wire(), "+PONG\r\n");
    assert_eq!(
        c.read_reply(),
        err("ERR Protocol error: invalid bulk length")
    );
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn unknown_command_error_lists_its_arguments() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(&encode_cmd(&[b"foo", b"a", b"b"]));
    assert_eq!(
        c.read_wire(),
        "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    );
    c.send(&encode_cmd(&[b"foo"]));
    assert_eq!(
        c.read_wire(),
        "-ERR unknown command 'foo', with args beginning with: \r\n"
    );
    // Inline form, same text; the connection stays open.
    c.send(b"foo a b\r\n");
    assert_eq!(
        c.read_wire(),
        "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(c.call(&["PING"]), Resp::Simple("PONG".into()));
}

#[test]
fn wrong_arity_names_the_command_in_lower_case() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send(&encode_cmd(&[b"GET"]));
    assert_eq!(
        c.read_wire(),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    c.send(&encode_cmd(&[b"get", b"a", b"b"]));
    assert_eq!(
        c.read_wire(),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    c.send(&encode_cmd(&[b"SeT", b"a"]));
    assert_eq!(
        c.read_wire(),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    c.send(b"GET\r\n");
    assert_eq!(
        c.read_wire(),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
}

#[test]
fn command_names_are_case_insensitive() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(c.call(&["pInG"]), Resp::Simple("PONG".into()));
    assert_eq!(c.call(&["set", "k", "v"]), Resp::Simple("OK".into()));
    assert_eq!(c.call(&["GeT", "k"]), bulk("v"));
}

#[test]
fn binary_values_survive_the_wire_unchanged() {
    let srv = Server::start();
    let mut c = srv.raw();
    let all: Vec<u8> = (0..=255u8).collect();
    c.send(&encode_cmd(&[b"SET", &all, &all]));
    assert_eq!(c.read_wire(), "+OK\r\n");
    c.send(&encode_cmd(&[b"GET", &all]));
    assert_eq!(c.read_reply(), Resp::Bulk(all.clone()));
}

#[test]
fn hello_3_replies_with_a_map_of_server_properties() {
    let srv = Server::start();
    let mut c = srv.raw();
    let reply = c.call(&["HELLO", "3"]);
    let Resp::Map(pairs) = &reply else {
        panic!("HELLO 3 must reply with a RESP3 map, got {reply:?}");
    };
    let keys: Vec<String> = pairs
        .iter()
        .map(|(k, _)| k.text().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        ["server", "version", "proto", "id", "mode", "role", "modules"]
    );
    assert!(matches!(reply.field("server"), Some(Resp::Bulk(_))));
    assert!(matches!(reply.field("version"), Some(Resp::Bulk(_))));
    assert_eq!(reply.field("proto"), Some(&Resp::Int(3)));
    let Some(Resp::Int(id)) = reply.field("id") else {
        panic!("id must be an integer: {reply:?}");
    };
    assert_eq!(reply.field("mode"), Some(&bulk("standalone")));
    assert_eq!(reply.field("role"), Some(&bulk("master")));
    assert_eq!(reply.field("modules"), Some(&Resp::Array(vec![])));
    // The id is this connection's CLIENT ID.
    assert_eq!(c.call(&["CLIENT", "ID"]), Resp::Int(*id));
}

#[test]
fn hello_2_replies_with_a_flat_array() {
    let srv = Server::start();
    let mut c = srv.raw();
    let reply = c.call(&["HELLO", "2"]);
    let Resp::Array(items) = &reply else {
        panic!("HELLO 2 must reply with an array, got {reply:?}");
    };
    assert_eq!(items.len(), 14);
    assert_eq!(reply.field("proto"), Some(&Resp::Int(2)));
    assert_eq!(reply.field("mode"), Some(&bulk("standalone")));
}

#[test]
fn hello_without_arguments_keeps_the_protocol() {
    let srv = Server::start();
    let mut c = srv.raw();
    let reply = c.call(&["HELLO"]);
    assert!(matches!(reply, Resp::Array(_)), "{reply:?}");
    assert_eq!(reply.field("proto"), Some(&Resp::Int(2)));
}

#[test]
fn resp3_missing_key_is_the_null_type() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send_cmd(&["GET", "missing"]);
    assert_eq!(c.read_wire(), "$-1\r\n");
    c.call(&["HELLO", "3"]);
    c.send_cmd(&["GET", "missing"]);
    assert_eq!(c.read_wire(), "_\r\n");
    c.call(&["SET", "a", "v"]);
    c.send_cmd(&["MGET", "a", "missing"]);
    assert_eq!(c.read_wire(), "*2\r\n$1\r\nv\r\n_\r\n");
    c.call(&["HELLO", "2"]);
    c.send_cmd(&["MGET", "a", "missing"]);
    assert_eq!(c.read_wire(), "*2\r\n$1\r\nv\r\n$-1\r\n");
}

#[test]
fn resp3_config_get_is_a_map() {
    let srv = Server::start_with(&["--maxclients", "1234"]);
    let mut c = srv.raw();
    c.send_cmd(&["CONFIG", "GET", "maxclients"]);
    assert_eq!(c.read_wire(), "*2\r\n$10\r\nmaxclients\r\n$4\r\n1234\r\n");
    c.call(&["HELLO", "3"]);
    c.send_cmd(&["CONFIG", "GET", "maxclients"]);
    assert_eq!(c.read_wire(), "%1\r\n$10\r\nmaxclients\r\n$4\r\n1234\r\n");
}

#[test]
fn resp3_command_info_flags_are_sets() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.call(&["HELLO", "3"]);
    let reply = c.call(&["COMMAND", "INFO", "get"]);
    let Resp::Array(outer) = &reply else {
        panic!("{reply:?}")
    };
    let Some(Resp::Array(info)) = outer.first() else {
        panic!("{reply:?}")
    };
    assert_eq!(info[0], bulk("get"));
    assert_eq!(info[1], Resp::Int(2));
    assert_eq!(
        info[2],
        Resp::Set(vec![
            Resp::Simple("readonly".into()),
            Resp::Simple("fast".into())
        ])
    );
}

#[test]
fn hello_with_unsupported_version_is_noproto() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send_cmd(&["HELLO", "4"]);
    assert_eq!(c.read_wire(), "-NOPROTO unsupported protocol version\r\n");
    c.send_cmd(&["HELLO", "1"]);
    assert_eq!(c.read_wire(), "-NOPROTO unsupported protocol version\r\n");
    c.send_cmd(&["HELLO", "abc"]);
    assert_eq!(
        c.read_wire(),
        "-ERR Protocol version is not an integer or out of range\r\n"
    );
    // Still RESP2 afterwards.
    c.send_cmd(&["GET", "missing"]);
    assert_eq!(c.read_wire(), "$-1\r\n");
}

#[test]
fn many_concurrent_connections_are_served() {
    let srv = Server::start();
    let mut conns: Vec<Raw> = (0..50).map(|_| srv.raw()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.send_cmd(&["SET", &format!("c{i}"), &i.to_string()]);
    }
    for c in conns.iter_mut() {
        assert_eq!(c.read_wire(), "+OK\r\n");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.call(&["GET", &format!("c{i}")]), bulk(&i.to_string()));
    }
}

#[test]
fn multibulk_count_line_over_64k_is_rejected() {
    let srv = Server::start();
    let mut line = b"*".to_vec();
    line.extend(std::iter::repeat_n(b'1', 70_000));
    assert_protocol_error(
        &srv,
        &line,
        "ERR Protocol error: too big mbulk count string",
    );
}

#[test]
fn unauthenticated_clients_get_tight_length_limits() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    assert_protocol_error(
        &srv,
        b"*11\r\n",
        "ERR Protocol error: unauthenticated multibulk length",
    );
    assert_protocol_error(
        &srv,
        b"*2\r\n$3\r\nGET\r\n$16385\r\n",
        "ERR Protocol error: unauthenticated bulk length",
    );
    // After AUTH the normal limits apply.
    let mut c = srv.raw();
    assert_eq!(c.call(&["AUTH", "pw"]), Resp::Simple("OK".into()));
    let big = vec![b'v'; 20_000];
    c.send(&encode_cmd(&[b"SET", b"k", &big]));
    assert_eq!(c.read_wire(), "+OK\r\n");
}

#[test]
fn quit_after_noauth_still_closes() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let mut c = srv.raw();
    c.send(b"PING\r\nQUIT\r\n");
    assert_eq!(c.read_wire(), "-NOAUTH Authentication required.\r\n");
    assert_eq!(c.read_wire(), "+OK\r\n");
    assert!(c.closed_within(CLOSE_WAIT));
}

#[test]
fn large_values_round_trip() {
    let srv = Server::start();
    let mut c = srv.raw();
    let big: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    c.send(&encode_cmd(&[b"SET", b"big", &big]));
    assert_eq!(c.read_wire(), "+OK\r\n");
    c.send(&encode_cmd(&[b"GET", b"big"]));
    assert_eq!(c.read_reply(), Resp::Bulk(big));
}
