//! Unit tests of the pgoutput decoder, kept beside it rather than inside the production file.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::catalog::TableId;
use proptest::prelude::*;

/// Builds message bytes by hand, field by field, the way the server lays them out.
#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn tag(c: u8) -> Self {
        B(vec![c])
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn i16(mut self, v: i16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn s(mut self, v: &str) -> Self {
        self.0.extend_from_slice(v.as_bytes());
        self.0.push(0);
        self
    }
    fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    fn text(self, v: &str) -> Self {
        self.u8(b't').i32(v.len() as i32).raw(v.as_bytes())
    }
    fn bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}

fn text(s: &str) -> TupleValue {
    TupleValue::Text(Bytes::copy_from_slice(s.as_bytes()))
}

/// One valid message of every kind, with whether it belongs inside a streamed block.
fn samples() -> Vec<(Bytes, bool)> {
    vec![
        (
            B::tag(b'B')
                .i64(0x1_0000_0010)
                .i64(700_000_000_000_000)
                .u32(42)
                .bytes(),
            false,
        ),
        (B::tag(b'C').u8(0).i64(0x10).i64(0x20).i64(5).bytes(), false),
        (B::tag(b'O').i64(0x99).s("node1").bytes(), false),
        (
            B::tag(b'R')
                .u32(16384)
                .s("public")
                .s("orders")
                .u8(b'd')
                .i16(2)
                .u8(1)
                .s("id")
                .u32(23)
                .i32(-1)
                .u8(0)
                .s("note")
                .u32(1043)
                .i32(24)
                .bytes(),
            false,
        ),
        (
            B::tag(b'R')
                .u32(7)
                .u32(16384)
                .s("")
                .s("pg_class")
                .u8(b'n')
                .i16(0)
                .bytes(),
            true,
        ),
        (B::tag(b'Y').u32(16400).s("public").s("mood").bytes(), false),
        (
            B::tag(b'Y').u32(7).u32(16400).s("public").s("mood").bytes(),
            true,
        ),
        (
            B::tag(b'I')
                .u32(16384)
                .u8(b'N')
                .i16(4)
                .text("1")
                .u8(b'n')
                .u8(b'u')
                .u8(b'b')
                .i32(2)
                .raw(&[0, 1])
                .bytes(),
            false,
        ),
        (
            B::tag(b'I')
                .u32(9)
                .u32(16384)
                .u8(b'N')
                .i16(1)
                .text("1")
                .bytes(),
            true,
        ),
        (
            B::tag(b'U').u32(16384).u8(b'N').i16(1).text("2").bytes(),
            false,
        ),
        (
            B::tag(b'U')
                .u32(16384)
                .u8(b'K')
                .i16(1)
                .text("1")
                .u8(b'N')
                .i16(1)
                .text("2")
                .bytes(),
            false,
        ),
        (
            B::tag(b'U')
                .u32(3)
                .u32(16384)
                .u8(b'O')
                .i16(1)
                .text("1")
                .u8(b'N')
                .i16(1)
                .u8(b'u')
                .bytes(),
            true,
        ),
        (
            B::tag(b'D')
                .u32(16384)
                .u8(b'K')
                .i16(2)
                .text("1")
                .u8(b'n')
                .bytes(),
            false,
        ),
        (
            B::tag(b'D')
                .u32(3)
                .u32(16384)
                .u8(b'O')
                .i16(1)
                .text("1")
                .bytes(),
            true,
        ),
        (
            B::tag(b'T').i32(2).u8(3).u32(16384).u32(16390).bytes(),
            false,
        ),
        (B::tag(b'T').u32(3).i32(1).u8(0).u32(16384).bytes(), true),
        (
            B::tag(b'M')
                .u8(1)
                .i64(0x30)
                .s("walcast")
                .i32(5)
                .raw(b"hello")
                .bytes(),
            false,
        ),
        (
            B::tag(b'M').u32(3).u8(0).i64(0x30).s("p").i32(0).bytes(),
            true,
        ),
        (B::tag(b'S').u32(77).u8(1).bytes(), false),
        (B::tag(b'E').bytes(), true),
        (
            B::tag(b'c')
                .u32(77)
                .u8(0)
                .i64(0x40)
                .i64(0x50)
                .i64(6)
                .bytes(),
            false,
        ),
        (B::tag(b'A').u32(77).u32(78).bytes(), false),
        (B::tag(b'A').u32(77).u32(77).i64(0x60).i64(7).bytes(), false),
        (
            B::tag(b'b').i64(1).i64(2).i64(3).u32(4).s("gid1").bytes(),
            false,
        ),
        (
            B::tag(b'P')
                .u8(0)
                .i64(1)
                .i64(2)
                .i64(3)
                .u32(4)
                .s("gid1")
                .bytes(),
            false,
        ),
        (
            B::tag(b'K')
                .u8(0)
                .i64(1)
                .i64(2)
                .i64(3)
                .u32(4)
                .s("gid1")
                .bytes(),
            false,
        ),
        (
            B::tag(b'r')
                .u8(0)
                .i64(1)
                .i64(2)
                .i64(3)
                .i64(5)
                .u32(4)
                .s("gid1")
                .bytes(),
            false,
        ),
        (
            B::tag(b'p')
                .u8(0)
                .i64(1)
                .i64(2)
                .i64(3)
                .u32(4)
                .s("gid1")
                .bytes(),
            false,
        ),
    ]
}

#[test]
fn decodes_begin_commit_origin() {
    let m = decode(
        &B::tag(b'B').i64(0x1_0000_0010).i64(12).u32(42).bytes(),
        false,
    )
    .unwrap();
    assert_eq!(
        m,
        Message::Begin(Begin {
            final_lsn: "1/10".parse().unwrap(),
            commit_time: 12,
            xid: 42
        })
    );
    let m = decode(
        &B::tag(b'C').u8(0).i64(0x10).i64(0x20).i64(5).bytes(),
        false,
    )
    .unwrap();
    assert_eq!(
        m,
        Message::Commit(Commit {
            flags: 0,
            commit_lsn: Lsn(0x10),
            end_lsn: Lsn(0x20),
            commit_time: 5
        })
    );
    let m = decode(&B::tag(b'O').i64(0x99).s("node1").bytes(), false).unwrap();
    assert_eq!(
        m,
        Message::Origin(Origin {
            commit_lsn: Lsn(0x99),
            name: "node1".into()
        })
    );
}

#[test]
fn decodes_relation_and_type() {
    let (bytes, _) = samples().swap_remove(3);
    let Message::Relation(r) = decode(&bytes, false).unwrap() else {
        panic!()
    };
    assert_eq!(r.xid, None);
    assert_eq!(r.oid, 16384);
    assert_eq!(r.table_id(), TableId::new("public", "orders"));
    assert_eq!(r.replica_identity, ReplicaIdentity::Default);
    assert_eq!(r.columns.len(), 2);
    assert!(r.columns[0].is_key());
    assert_eq!(r.columns[0].name, "id");
    assert_eq!(r.columns[0].type_oid, 23);
    assert_eq!(r.columns[0].type_modifier, -1);
    assert!(!r.columns[1].is_key());
    assert_eq!(r.columns[1].type_modifier, 24);

    let bytes = B::tag(b'R')
        .u32(7)
        .u32(16384)
        .s("")
        .s("pg_class")
        .u8(b'n')
        .i16(0)
        .bytes();
    let Message::Relation(r) = decode(&bytes, true).unwrap() else {
        panic!()
    };
    assert_eq!(r.xid, Some(7));
    assert_eq!(r.table_id(), TableId::new("pg_catalog", "pg_class"));
    assert_eq!(r.replica_identity, ReplicaIdentity::Nothing);
    // The same bytes outside a stream are misread and must fail, not panic.
    assert!(decode(&bytes, false).is_err());

    let m = decode(
        &B::tag(b'Y').u32(7).u32(16400).s("public").s("mood").bytes(),
        true,
    )
    .unwrap();
    assert_eq!(
        m,
        Message::Type(TypeInfo {
            xid: Some(7),
            oid: 16400,
            namespace: "public".into(),
            name: "mood".into()
        })
    );
}

#[test]
fn decodes_insert_with_every_value_kind_zero_copy() {
    let bytes = B::tag(b'I')
        .u32(16384)
        .u8(b'N')
        .i16(4)
        .text("1")
        .u8(b'n')
        .u8(b'u')
        .u8(b'b')
        .i32(2)
        .raw(&[0, 1])
        .bytes();
    let Message::Insert(i) = decode(&bytes, false).unwrap() else {
        panic!()
    };
    assert_eq!(i.relation_oid, 16384);
    assert_eq!(
        i.new,
        vec![
            text("1"),
            TupleValue::Null,
            TupleValue::UnchangedToast,
            TupleValue::Binary(Bytes::from_static(&[0, 1]))
        ]
    );
    let TupleValue::Text(t) = &i.new[0] else {
        panic!()
    };
    let inside = bytes.as_ptr_range();
    assert!(
        inside.contains(&t.as_ptr()),
        "text value must be a slice of the input"
    );
}

#[test]
fn decodes_update_variants() {
    let m = decode(
        &B::tag(b'U').u32(5).u8(b'N').i16(1).text("2").bytes(),
        false,
    )
    .unwrap();
    assert_eq!(
        m,
        Message::Update(Update {
            xid: None,
            relation_oid: 5,
            old: None,
            new: vec![text("2")]
        })
    );
    let m = decode(
        &B::tag(b'U')
            .u32(5)
            .u8(b'K')
            .i16(1)
            .text("1")
            .u8(b'N')
            .i16(1)
            .text("2")
            .bytes(),
        false,
    )
    .unwrap();
    assert_eq!(
        m,
        Message::Update(Update {
            xid: None,
            relation_oid: 5,
            old: Some(OldTuple::Key(vec![text("1")])),
            new: vec![text("2")]
        })
    );
    let m = decode(
        &B::tag(b'U')
            .u32(3)
            .u32(5)
            .u8(b'O')
            .i16(1)
            .text("1")
            .u8(b'N')
            .i16(1)
            .u8(b'u')
            .bytes(),
        true,
    )
    .unwrap();
    assert_eq!(
        m,
        Message::Update(Update {
            xid: Some(3),
            relation_oid: 5,
            old: Some(OldTuple::Full(vec![text("1")])),
            new: vec![TupleValue::UnchangedToast]
        })
    );
    let err = decode(
        &B::tag(b'U').u32(5).u8(b'K').i16(0).u8(b'K').i16(0).bytes(),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnexpectedSubmessage {
            what: "Update",
            tag: b'K'
        }
    );
}

#[test]
fn decodes_delete_and_truncate() {
    let m = decode(
        &B::tag(b'D')
            .u32(5)
            .u8(b'K')
            .i16(2)
            .text("1")
            .u8(b'n')
            .bytes(),
        false,
    )
    .unwrap();
    let Message::Delete(d) = m else { panic!() };
    assert_eq!(d.old, OldTuple::Key(vec![text("1"), TupleValue::Null]));
    assert_eq!(d.old.values().len(), 2);
    let m = decode(
        &B::tag(b'D').u32(3).u32(5).u8(b'O').i16(1).text("1").bytes(),
        true,
    )
    .unwrap();
    let Message::Delete(d) = m else { panic!() };
    assert_eq!(d.xid, Some(3));
    assert!(matches!(d.old, OldTuple::Full(_)));
    assert_eq!(
        decode(&B::tag(b'D').u32(5).u8(b'N').i16(0).bytes(), false).unwrap_err(),
        DecodeError::UnexpectedSubmessage {
            what: "Delete",
            tag: b'N'
        }
    );

    let Message::Truncate(t) = decode(
        &B::tag(b'T').i32(2).u8(3).u32(16384).u32(16390).bytes(),
        false,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(t.relation_oids, vec![16384, 16390]);
    assert!(t.cascade() && t.restart_identity());
    let Message::Truncate(t) =
        decode(&B::tag(b'T').u32(3).i32(1).u8(0).u32(16384).bytes(), true).unwrap()
    else {
        panic!()
    };
    assert_eq!(t.xid, Some(3));
    assert!(!t.cascade() && !t.restart_identity());
}

#[test]
fn decodes_logical_message() {
    let m = decode(
        &B::tag(b'M')
            .u8(1)
            .i64(0x30)
            .s("walcast")
            .i32(5)
            .raw(b"hello")
            .bytes(),
        false,
    )
    .unwrap();
    let Message::Message(m) = m else { panic!() };
    assert!(m.transactional());
    assert_eq!(m.lsn, Lsn(0x30));
    assert_eq!(m.prefix, "walcast");
    assert_eq!(&m.content[..], b"hello");
    let m = decode(
        &B::tag(b'M').u32(3).u8(0).i64(0x30).s("p").i32(0).bytes(),
        true,
    )
    .unwrap();
    let Message::Message(m) = m else { panic!() };
    assert_eq!(m.xid, Some(3));
    assert!(!m.transactional());
    assert!(m.content.is_empty());
}

#[test]
fn decodes_stream_messages() {
    assert_eq!(
        decode(&B::tag(b'S').u32(77).u8(1).bytes(), false).unwrap(),
        Message::StreamStart(StreamStart {
            xid: 77,
            first_segment: true
        })
    );
    assert_eq!(
        decode(&B::tag(b'E').bytes(), true).unwrap(),
        Message::StreamStop
    );
    assert_eq!(
        decode(
            &B::tag(b'c')
                .u32(77)
                .u8(0)
                .i64(0x40)
                .i64(0x50)
                .i64(6)
                .bytes(),
            false
        )
        .unwrap(),
        Message::StreamCommit(StreamCommit {
            xid: 77,
            flags: 0,
            commit_lsn: Lsn(0x40),
            end_lsn: Lsn(0x50),
            commit_time: 6
        })
    );
    assert_eq!(
        decode(&B::tag(b'A').u32(77).u32(78).bytes(), false).unwrap(),
        Message::StreamAbort(StreamAbort {
            xid: 77,
            subxid: 78,
            abort_lsn: None,
            abort_time: None
        })
    );
    assert_eq!(
        decode(
            &B::tag(b'A').u32(77).u32(77).i64(0x60).i64(7).bytes(),
            false
        )
        .unwrap(),
        Message::StreamAbort(StreamAbort {
            xid: 77,
            subxid: 77,
            abort_lsn: Some(Lsn(0x60)),
            abort_time: Some(7)
        })
    );
    assert!(decode(&B::tag(b'A').u32(77).u32(77).i64(0x60).bytes(), false).is_err());
}

#[test]
fn decodes_two_phase_messages() {
    assert_eq!(
        decode(
            &B::tag(b'b').i64(1).i64(2).i64(3).u32(4).s("g").bytes(),
            false
        )
        .unwrap(),
        Message::BeginPrepare(BeginPrepare {
            prepare_lsn: Lsn(1),
            end_lsn: Lsn(2),
            prepare_time: 3,
            xid: 4,
            gid: "g".into()
        })
    );
    let p = Prepare {
        flags: 0,
        prepare_lsn: Lsn(1),
        end_lsn: Lsn(2),
        prepare_time: 3,
        xid: 4,
        gid: "g".into(),
    };
    let body = |t| B::tag(t).u8(0).i64(1).i64(2).i64(3).u32(4).s("g").bytes();
    assert_eq!(
        decode(&body(b'P'), false).unwrap(),
        Message::Prepare(p.clone())
    );
    assert_eq!(
        decode(&body(b'p'), false).unwrap(),
        Message::StreamPrepare(p)
    );
    assert_eq!(
        decode(&body(b'K'), false).unwrap(),
        Message::CommitPrepared(CommitPrepared {
            flags: 0,
            commit_lsn: Lsn(1),
            end_lsn: Lsn(2),
            commit_time: 3,
            xid: 4,
            gid: "g".into()
        })
    );
    assert_eq!(
        decode(
            &B::tag(b'r')
                .u8(0)
                .i64(1)
                .i64(2)
                .i64(3)
                .i64(5)
                .u32(4)
                .s("g")
                .bytes(),
            false
        )
        .unwrap(),
        Message::RollbackPrepared(RollbackPrepared {
            flags: 0,
            prepare_end_lsn: Lsn(1),
            rollback_end_lsn: Lsn(2),
            prepare_time: 3,
            rollback_time: 5,
            xid: 4,
            gid: "g".into()
        })
    );
}

#[test]
fn reports_typed_errors() {
    assert_eq!(decode(&Bytes::new(), false), Err(DecodeError::Empty));
    assert_eq!(
        decode(&B::tag(b'z').bytes(), false),
        Err(DecodeError::UnknownTag { tag: b'z' })
    );
    assert!(matches!(
        decode(&B::tag(b'B').i64(1).bytes(), false),
        Err(DecodeError::Truncated { .. })
    ));
    assert_eq!(
        decode(&B::tag(b'I').u32(1).u8(b'N').i16(1).u8(b'x').bytes(), false),
        Err(DecodeError::UnknownTupleKind {
            kind: b'x',
            column: 0
        })
    );
    assert_eq!(
        decode(&B::tag(b'I').u32(1).u8(b'N').i16(-1).bytes(), false),
        Err(DecodeError::NegativeLength {
            what: "tuple column count",
            value: -1
        })
    );
    assert_eq!(
        decode(
            &B::tag(b'I').u32(1).u8(b'N').i16(1).u8(b't').i32(-5).bytes(),
            false
        ),
        Err(DecodeError::NegativeLength {
            what: "text value length",
            value: -5
        })
    );
    assert_eq!(
        decode(
            &B::tag(b'I')
                .u32(1)
                .u8(b'N')
                .i16(1)
                .u8(b't')
                .i32(i32::MAX)
                .bytes(),
            false
        ),
        Err(DecodeError::Truncated {
            what: "text value",
            offset: 13
        })
    );
    assert_eq!(
        decode(&B::tag(b'O').i64(1).raw(&[0xff, 0xfe, 0]).bytes(), false),
        Err(DecodeError::InvalidUtf8 {
            what: "origin name"
        })
    );
    assert_eq!(
        decode(&B::tag(b'O').i64(1).raw(b"abc").bytes(), false),
        Err(DecodeError::UnterminatedString {
            what: "origin name"
        })
    );
    assert_eq!(
        decode(
            &B::tag(b'R').u32(1).s("a").s("b").u8(b'x').i16(0).bytes(),
            false
        ),
        Err(DecodeError::InvalidReplicaIdentity { code: b'x' })
    );
    assert_eq!(
        decode(&B::tag(b'E').u8(0).bytes(), false),
        Err(DecodeError::TrailingBytes {
            what: "Stream Stop",
            count: 1
        })
    );
    // A huge claimed count with no data must not allocate for the claim.
    assert!(decode(&B::tag(b'T').i32(i32::MAX).u8(0).bytes(), false).is_err());
}

#[test]
fn every_sample_decodes_and_every_truncation_fails() {
    for (bytes, in_stream) in samples() {
        let m = decode(&bytes, in_stream);
        assert!(m.is_ok(), "{bytes:?}: {m:?}");
        for cut in 0..bytes.len() {
            let short = bytes.slice(..cut);
            let r = decode(&short, in_stream);
            // A v4 Stream Abort cut after its v2 fields is a valid v2 Stream Abort.
            let v2_abort = bytes[0] == b'A' && cut == 9;
            assert!(
                r.is_err() || v2_abort,
                "prefix {cut} of {bytes:?} decoded as {r:?}"
            );
        }
    }
}

#[test]
fn decoder_tracks_streamed_blocks() {
    let mut d = Decoder::new();
    d.decode(&B::tag(b'S').u32(9).u8(1).bytes()).unwrap();
    assert!(d.in_stream());
    let Message::Insert(i) = d
        .decode(&B::tag(b'I').u32(9).u32(5).u8(b'N').i16(0).bytes())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(i.xid, Some(9));
    d.decode(&B::tag(b'E').bytes()).unwrap();
    assert!(!d.in_stream());
    let Message::Insert(i) = d
        .decode(&B::tag(b'I').u32(5).u8(b'N').i16(0).bytes())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(i.xid, None);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256), in_stream: bool) {
        let _ = decode(&Bytes::from(data), in_stream);
    }

    #[test]
    fn random_tagged_bytes_never_panic(
        tag in proptest::sample::select(b"BCORYIUDTMSEcAbPKrpz".to_vec()),
        data in proptest::collection::vec(any::<u8>(), 0..128),
        in_stream: bool,
    ) {
        let mut v = vec![tag];
        v.extend(data);
        let _ = decode(&Bytes::from(v), in_stream);
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0usize..28,
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
        in_stream: bool,
    ) {
        let samples = samples();
        let (bytes, _) = &samples[which % samples.len()];
        let mut v = bytes.to_vec();
        for (i, b) in flips {
            let i = i.index(v.len());
            v[i] = b;
        }
        v.truncate(cut.index(v.len() + 1));
        let _ = decode(&Bytes::from(v), in_stream);
    }

    #[test]
    fn tuple_values_round_trip(values in proptest::collection::vec(
        prop_oneof![
            Just(TupleValue::Null),
            Just(TupleValue::UnchangedToast),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| TupleValue::Text(Bytes::from(v))),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| TupleValue::Binary(Bytes::from(v))),
        ],
        0..20,
    )) {
        let mut b = B::tag(b'I').u32(1).u8(b'N').i16(values.len() as i16);
        for v in &values {
            b = match v {
                TupleValue::Null => b.u8(b'n'),
                TupleValue::UnchangedToast => b.u8(b'u'),
                TupleValue::Text(t) => b.u8(b't').i32(t.len() as i32).raw(t),
                TupleValue::Binary(t) => b.u8(b'b').i32(t.len() as i32).raw(t),
            };
        }
        let m = decode(&b.bytes(), false).unwrap();
        prop_assert_eq!(m, Message::Insert(Insert { xid: None, relation_oid: 1, new: values }));
    }
}
