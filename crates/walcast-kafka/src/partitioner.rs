//! Partition choice, compatible with the Java client's default partitioner.
//!
//! Debezium's consumers (and every Kafka Streams or Connect application joining on the same keys)
//! expect a key to land on the partition the Java producer would pick:
//! `toPositive(murmur2(keyBytes)) % numPartitions`. A different hash would silently spread one
//! row's changes over several partitions and lose their order, so the hash here is a bit-exact
//! port of `org.apache.kafka.common.utils.Utils.murmur2`, checked against Kafka's own test
//! vectors.
//!
//! Records without a key (tables without a primary key) use a *sticky* partition, like the Java
//! client since 2.4 (KIP-480): every keyless record goes to the same partition until that
//! partition's open batch is sent, then the next partition (round-robin, not random, so runs are
//! reproducible) becomes sticky. This fills batches instead of scattering single records.

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, returned as Java's
/// signed `int`.
///
/// The Java code masks every byte with `& 0xff`, in the 4-byte loop and in the tail, so bytes are
/// unsigned throughout; `u32` wrapping arithmetic here gives the same bits as Java's overflowing
/// `int` arithmetic, and `>>>` is a logical shift on `u32`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let length = data.len();
    // Java's `length` is an int; keys longer than 2 GiB cannot exist in a Kafka record.
    let mut h: u32 = SEED ^ (length as u32);

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The switch with fall-through in Java: case 3 adds byte 2, case 2 byte 1, case 1 byte 0 and
    // multiplies.
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub fn to_positive(x: i32) -> i32 {
    x & 0x7fff_ffff
}

/// The partition the Java client's default partitioner picks for a non-null key.
///
/// `num_partitions` must be positive; a topic always has at least one partition, and callers get
/// the count from metadata.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    debug_assert!(num_partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % num_partitions.max(1)
}

/// Sticky partition state for keyless records of one topic (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct StickyPartitioner {
    /// The partition keyless records currently go to.
    current: i32,
}

impl StickyPartitioner {
    /// The partition for the next keyless record of a topic with `num_partitions` partitions.
    pub fn partition(&self, num_partitions: i32) -> i32 {
        self.current % num_partitions.max(1)
    }

    /// Called when `partition`'s open batch is closed (sent or full): if it was the sticky
    /// partition, move on to the next one so keyless records spread over all partitions.
    pub fn on_batch_closed(&mut self, partition: i32, num_partitions: i32) {
        let n = num_partitions.max(1);
        if partition == self.current % n {
            self.current = (partition + 1) % n;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `org.apache.kafka.common.utils.UtilsTest.testMurmur2`, verbatim values.
    const KAFKA_UTILS_TEST: &[(&[u8], i32)] = &[
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        (b"abc", 479470107),
    ];

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        for (input, expected) in KAFKA_UTILS_TEST {
            assert_eq!(
                murmur2(input),
                *expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Values Akka's Murmur2Spec took from the Java implementation: every tail length 0..=3 and
    /// more than one block. (kafkajs's *legacy* partitioner vectors differ on purpose: that
    /// partitioner is the one kafkajs documents as not Java-compatible.)
    #[test]
    fn murmur2_matches_other_clients_vectors() {
        let cases: &[(&str, i32)] = &[
            ("1", -1993445489),
            ("12", 126087238),
            ("123", -267702483),
            ("1234", -1614185708),
            ("12345", -1188365604),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), *expected, "murmur2({input:?})");
        }
    }

    #[test]
    fn bytes_with_the_high_bit_set_are_unsigned() {
        // In the tail, a signed byte would flip the upper bits of h; Java masks with 0xff.
        // Hash of [0xff] computed by hand from the Java algorithm:
        // h = seed ^ 1; h ^= 0xff; h *= m; h ^= h >>> 13; h *= m; h ^= h >>> 15.
        let m: u32 = 0x5bd1_e995;
        let mut h: u32 = 0x9747_b28c ^ 1;
        h ^= 0xff;
        h = h.wrapping_mul(m);
        h ^= h >> 13;
        h = h.wrapping_mul(m);
        h ^= h >> 15;
        assert_eq!(murmur2(&[0xff]), h as i32);
        // And in a 4-byte block every byte contributes its unsigned value.
        assert_ne!(murmur2(&[0x80, 0, 0, 0]), murmur2(&[0, 0, 0, 0]));
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-973932308), 1173551340);
    }

    #[test]
    fn keys_map_to_the_java_partition() {
        // Java: Utils.toPositive(Utils.murmur2("21".getBytes())) % 3
        //     = (-973932308 & 0x7fffffff) % 3 = 1173551340 % 3 = 0.
        assert_eq!(partition_for_key(b"21", 3), 0);
        // "foobar": (-790332482 & 0x7fffffff) = 1357151166; % 5 = 1, % 8 = 6.
        assert_eq!(partition_for_key(b"foobar", 5), 1);
        assert_eq!(partition_for_key(b"foobar", 8), 6);
        // "abc": 479470107 % 3 = 0, % 4 = 3, % 10 = 7.
        assert_eq!(partition_for_key(b"abc", 4), 3);
        assert_eq!(partition_for_key(b"abc", 10), 7);
        // Long keys serialised big-endian (Java's LongSerializer), 3 partitions.
        let long_key = |v: i64| v.to_be_bytes();
        let expect: &[(i64, i32)] = &[(0, 2), (1, 0), (2, 0), (3, 1), (4, 0), (5, 1)];
        for (k, p) in expect {
            assert_eq!(partition_for_key(&long_key(*k), 3), *p, "long key {k}");
        }
        for n in 1..50 {
            let p = partition_for_key(b"a-little-bit-long-string", n);
            assert!((0..n).contains(&p));
        }
    }

    #[test]
    fn sticky_partition_moves_on_when_its_batch_closes() {
        let mut s = StickyPartitioner::default();
        assert_eq!(s.partition(3), 0);
        // Another partition's batch closing does not move it.
        s.on_batch_closed(2, 3);
        assert_eq!(s.partition(3), 0);
        s.on_batch_closed(0, 3);
        assert_eq!(s.partition(3), 1);
        s.on_batch_closed(1, 3);
        s.on_batch_closed(2, 3);
        assert_eq!(s.partition(3), 0);
        assert_eq!(s.partition(1), 0);
    }
}
