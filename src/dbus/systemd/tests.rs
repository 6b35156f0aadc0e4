use super::*;
use crate::dbus::ScriptedTransport;
use crate::dbus::message::field;

const GUID: &str = "7b2bdf1c5b4ac1b1e8f1f0a76551d3a1";
const SYSTEMD_PEER: &str = ":1.2";
const JOB: &str = "/org/freedesktop/systemd1/job/42";
const T: Duration = Duration::from_secs(5);

/// A bus past Hello (serial 1); our next calls have serials 2, 3, ...
fn bus() -> ScriptedTransport {
    ScriptedTransport::new()
        .line(&format!("OK {GUID}"))
        .message(
            &Message::method_return(1)
                .with_body(vec![Value::str(":1.9")])
                .with_serial(1),
        )
        .unwrap()
}

fn from_systemd(m: Message) -> Message {
    m.with_field(field::SENDER, Value::str(SYSTEMD_PEER))
}

fn ok(reply_to: u32, body: Vec<Value>) -> Message {
    from_systemd(Message::method_return(reply_to).with_body(body)).with_serial(100 + reply_to)
}

fn job_removed(serial: u32, job: &str, result: &str) -> Message {
    from_systemd(
        Message::signal(MANAGER_PATH, MANAGER, "JobRemoved").with_body(vec![
            Value::Uint32(42),
            Value::Path(job.into()),
            Value::str("cgbox-t.scope"),
            Value::str(result),
        ]),
    )
    .with_serial(serial)
}

/// AddMatch (2) answered, StartTransientUnit (3) answered with JOB, then `then`.
fn start_script(then: &[Message]) -> ScriptedTransport {
    let mut t = bus()
        .message(&Message::method_return(2).with_serial(50))
        .unwrap()
        .message(&ok(3, vec![Value::Path(JOB.into())]))
        .unwrap();
    for m in then {
        t = t.message(m).unwrap();
    }
    t
}

fn scope() -> Scope {
    Scope::new("cgbox-t.scope", 4242)
        .unwrap()
        .description("test")
}

/// The calls the client sent, parsed (after the SASL lines).
fn calls(sent: &[u8]) -> Vec<Message> {
    let begin = sent.windows(7).position(|w| w == b"BEGIN\r\n").unwrap() + 7;
    let mut rest = &sent[begin..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = crate::dbus::frame_len(rest).unwrap().unwrap();
        out.push(Message::parse(&rest[..len]).unwrap());
        rest = &rest[len..];
    }
    out
}

#[test]
fn a_scope_is_asked_for_after_the_match_and_awaited() {
    let other_job = job_removed(60, "/org/freedesktop/systemd1/job/41", "done");
    let mut s = Systemd::over(
        start_script(&[other_job, job_removed(61, JOB, "done")]),
        0,
        T,
    )
    .unwrap();
    let started = s.start_delegated_scope(&scope(), T).unwrap();
    assert_eq!(started.unit(), "cgbox-t.scope");
    assert_eq!(started.job(), JOB);
    assert!(s.connection().transport().script_used_up());

    let sent = calls(s.connection().transport().sent());
    let [hello, add_match, start] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(hello.member(), Some("Hello"));
    assert_eq!(add_match.member(), Some("AddMatch"));
    assert_eq!(add_match.body(), [Value::str(JOB_REMOVED_RULE)]);
    assert_eq!(start.destination(), Some("org.freedesktop.systemd1"));
    assert_eq!(start.path(), Some("/org/freedesktop/systemd1"));
    assert_eq!(start.interface(), Some(MANAGER));
    assert_eq!(start.member(), Some("StartTransientUnit"));
    assert_eq!(
        start.flags(),
        0,
        "auto-start stays on, no interactive authorization"
    );
    assert_eq!(start.signature(), "ssa(sv)a(sa(sv))");
    assert_eq!(start.body(), scope().arguments());
}

#[test]
fn the_properties_of_the_scope() {
    let args = Scope::new("cgbox-x.scope", 7)
        .unwrap()
        .slice("cgbox.slice")
        .unwrap()
        .arguments();
    let [
        Value::Str(name),
        Value::Str(mode),
        Value::Array { items, .. },
        Value::Array { items: aux, .. },
    ] = &args[..]
    else {
        panic!("{args:?}")
    };
    assert_eq!((name.as_str(), mode.as_str()), ("cgbox-x.scope", "fail"));
    assert!(aux.is_empty());
    let props: Vec<(String, Value)> = items
        .iter()
        .map(|p| match p {
            Value::Struct(f) => match &f[..] {
                [Value::Str(k), Value::Variant(v)] => (k.clone(), (**v).clone()),
                _ => panic!("{p:?}"),
            },
            _ => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(
        props,
        [
            ("Description".to_string(), Value::str("cgbox cgbox-x.scope")),
            ("Slice".into(), Value::str("cgbox.slice")),
            (
                "PIDs".into(),
                Value::array(Type::Uint32, vec![Value::Uint32(7)])
            ),
            ("Delegate".into(), Value::Bool(true)),
            ("CollectMode".into(), Value::str("inactive-or-failed")),
        ]
    );
    assert_eq!(
        Scope::new("x.service", 1).unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    assert_eq!(
        Scope::new("a.scope", 1)
            .unwrap()
            .slice("x.scope")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidName
    );
}

#[test]
fn job_removed_before_the_reply_is_not_missed() {
    let t = bus()
        .message(&Message::method_return(2).with_serial(50))
        .unwrap()
        .message(&job_removed(60, JOB, "done"))
        .unwrap()
        .message(&ok(3, vec![Value::Path(JOB.into())]))
        .unwrap();
    let mut s = Systemd::over(t, 0, T).unwrap();
    assert!(s.start_delegated_scope(&scope(), T).is_ok());
}

#[test]
fn a_result_other_than_done_is_an_error_that_names_it() {
    for (result, kind) in [
        ("failed", ErrorKind::Bus),
        ("canceled", ErrorKind::Bus),
        ("timeout", ErrorKind::TimedOut),
    ] {
        let mut s = Systemd::over(start_script(&[job_removed(60, JOB, result)]), 0, T).unwrap();
        let e = s.start_delegated_scope(&scope(), T).unwrap_err();
        assert_eq!(e.kind(), kind, "{result}");
        assert!(e.detail().unwrap().contains(&format!("{result:?}")), "{e}");
        assert!(
            e.hint().unwrap().contains("journalctl -u cgbox-t.scope"),
            "{e}"
        );
    }
}

#[test]
fn job_removed_from_another_peer_is_ignored() {
    let forged = job_removed(60, JOB, "done").with_field(field::SENDER, Value::str(":1.666"));
    let mut s = Systemd::over(start_script(&[forged]), 0, T).unwrap();
    let e = s.start_delegated_scope(&scope(), T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(e.operation(), "start cgbox-t.scope through systemd");
}

#[test]
fn a_malformed_job_removed_is_a_protocol_error() {
    let bad = from_systemd(
        Message::signal(MANAGER_PATH, MANAGER, "JobRemoved").with_body(vec![Value::Uint32(1)]),
    )
    .with_serial(60);
    let mut s = Systemd::over(start_script(&[bad]), 0, T).unwrap();
    let e = s.start_delegated_scope(&scope(), T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert!(e.detail().unwrap().contains("instead of \"uoss\""), "{e}");
}

#[test]
fn unit_exists_and_a_strange_reply() {
    let exists = bus()
        .message(&Message::method_return(2).with_serial(50))
        .unwrap()
        .message(
            &from_systemd(
                Message::error(3, "org.freedesktop.systemd1.UnitExists")
                    .with_body(vec![Value::str("Unit cgbox-t.scope already exists.")]),
            )
            .with_serial(51),
        )
        .unwrap();
    let mut s = Systemd::over(exists, 0, T).unwrap();
    let e = s.start_delegated_scope(&scope(), T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(e.detail().unwrap().contains("already exists"));

    let strange = bus()
        .message(&Message::method_return(2).with_serial(50))
        .unwrap()
        .message(&ok(3, vec![Value::str("not a path")]))
        .unwrap();
    let mut s = Systemd::over(strange, 0, T).unwrap();
    let e = s.start_delegated_scope(&scope(), T).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert!(e.detail().unwrap().contains("instead of \"o\""), "{e}");
}

#[test]
fn the_match_is_added_once_per_connection() {
    let t = start_script(&[job_removed(60, JOB, "done")])
        .message(&ok(
            4,
            vec![Value::Path("/org/freedesktop/systemd1/job/43".into())],
        ))
        .unwrap()
        .message(&job_removed(61, "/org/freedesktop/systemd1/job/43", "done"))
        .unwrap();
    let mut s = Systemd::over(t, 0, T).unwrap();
    s.start_delegated_scope(&scope(), T).unwrap();
    s.start_delegated_scope(&Scope::new("cgbox-u.scope", 1).unwrap(), T)
        .unwrap();
    let members: Vec<_> = calls(s.connection().transport().sent())
        .iter()
        .map(|m| m.member().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        members,
        [
            "Hello",
            "AddMatch",
            "StartTransientUnit",
            "StartTransientUnit"
        ]
    );
}

#[test]
fn unit_delegates_reads_the_property_of_the_right_interface() {
    let unit = "/org/freedesktop/systemd1/unit/cgbox_2dt_2escope";
    let t = bus()
        .message(&ok(2, vec![Value::Path(unit.into())]))
        .unwrap()
        .message(&ok(3, vec![Value::variant(Value::Bool(true))]))
        .unwrap();
    let mut s = Systemd::over(t, 0, T).unwrap();
    assert_eq!(s.unit_delegates(4242, T).unwrap(), Some(true));
    let sent = calls(s.connection().transport().sent());
    assert_eq!(sent[1].member(), Some("GetUnitByPID"));
    assert_eq!(sent[1].body(), [Value::Uint32(4242)]);
    assert_eq!(sent[2].path(), Some(unit));
    assert_eq!(sent[2].interface(), Some("org.freedesktop.DBus.Properties"));
    assert_eq!(sent[2].member(), Some("Get"));
    assert_eq!(
        sent[2].body(),
        [
            Value::str("org.freedesktop.systemd1.Scope"),
            Value::str("Delegate")
        ]
    );
}

#[test]
fn unit_types_without_delegate_are_not_asked() {
    let t = bus()
        .message(&ok(
            2,
            vec![Value::Path(
                "/org/freedesktop/systemd1/unit/x_2etarget".into(),
            )],
        ))
        .unwrap();
    let mut s = Systemd::over(t, 0, T).unwrap();
    let unit = s.unit_of_pid(1, T).unwrap();
    assert_eq!(unit.name(), "x.target");
    assert_eq!(s.delegate(&unit, T).unwrap(), None);
    assert_eq!(
        calls(s.connection().transport().sent()).len(),
        2,
        "Hello and GetUnitByPID only"
    );
}

#[test]
fn unit_delegates_refuses_what_it_cannot_trust() {
    let cases: Vec<(Vec<Message>, ErrorKind, &str)> = vec![
        (
            vec![
                from_systemd(
                    Message::error(2, "org.freedesktop.systemd1.NoUnitForPID").with_body(vec![
                        Value::str("PID 9 does not belong to any loaded unit."),
                    ]),
                )
                .with_serial(70),
            ],
            ErrorKind::NotFound,
            "NoUnitForPID",
        ),
        (
            vec![ok(
                2,
                vec![Value::Path("/org/freedesktop/systemd1/job/1".into())],
            )],
            ErrorKind::Parse,
            "not a unit's object path",
        ),
        (
            vec![
                ok(
                    2,
                    vec![Value::Path(
                        "/org/freedesktop/systemd1/unit/a_2escope".into(),
                    )],
                ),
                ok(3, vec![Value::variant(Value::str("yes"))]),
            ],
            ErrorKind::Parse,
            "Delegate of a.scope is s instead of \"b\"",
        ),
        (
            vec![
                ok(
                    2,
                    vec![Value::Path(
                        "/org/freedesktop/systemd1/unit/a_2eservice".into(),
                    )],
                ),
                ok(3, vec![Value::Bool(true)]),
            ],
            ErrorKind::Parse,
            "instead of \"v\"",
        ),
    ];
    for (replies, kind, why) in cases {
        let mut t = bus();
        for r in &replies {
            t = t.message(r).unwrap();
        }
        let mut s = Systemd::over(t, 0, T).unwrap();
        let e = s.unit_delegates(9, T).unwrap_err();
        assert_eq!(e.kind(), kind, "{why}: {e}");
        assert!(e.detail().unwrap().contains(why), "{why}: {e}");
    }
}

#[test]
fn a_unit_asked_about_by_name() {
    let unit = Unit::named("user@1000.service").unwrap();
    assert_eq!(
        unit.path(),
        "/org/freedesktop/systemd1/unit/user_401000_2eservice"
    );
    assert_eq!(
        unit.cgroup_interface(),
        Some("org.freedesktop.systemd1.Service")
    );
    assert_eq!(
        Unit::named("nope").unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    let t = bus()
        .message(&ok(2, vec![Value::variant(Value::Bool(false))]))
        .unwrap();
    let mut s = Systemd::over(t, 1000, T).unwrap();
    let scope = Unit::named("app-x.scope").unwrap();
    assert_eq!(s.delegate(&scope, T).unwrap(), Some(false));
    let sent = calls(s.connection().transport().sent());
    assert_eq!(
        sent[1].path(),
        Some("/org/freedesktop/systemd1/unit/app_2dx_2escope")
    );
}
