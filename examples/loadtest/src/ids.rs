//! Zipf-distributed ranks (ids, pages) and random valid scan targets.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Zipf};

/// Integers in `1..=n` where rank `k` is drawn with probability proportional to `1 / k^s`
/// (rand_distr's [`Zipf`]), so a few low ids take most requests, as real traffic does.
#[derive(Debug, Clone, Copy)]
pub struct ZipfRanks {
    dist: Zipf<f64>,
    n: u64,
}

impl ZipfRanks {
    /// Ranks in `1..=n` with exponent `s` (> 0).
    pub fn new(n: u64, s: f64) -> Result<Self, String> {
        if n == 0 {
            return Err("a Zipf range needs at least one rank".to_owned());
        }
        // u64 -> f64 is exact up to 2^53, far beyond any id range worth loading.
        #[allow(clippy::cast_precision_loss)]
        let dist = Zipf::new(n as f64, s).map_err(|e| format!("Zipf(n={n}, s={s}): {e}"))?;
        Ok(ZipfRanks { dist, n })
    }

    /// One rank in `1..=n`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        float_to_rank(self.dist.sample(rng), self.n)
    }

    /// The largest rank.
    pub fn n(&self) -> u64 {
        self.n
    }
}

/// Zipf samples are whole numbers in `[1, n]` carried as floats; `as` saturates (NaN → 0), and
/// the clamp keeps the result in range whatever the float.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn float_to_rank(x: f64, n: u64) -> u64 {
    (x.round() as u64).clamp(1, n)
}

/// A random target the service accepts (a hostname or an IPv4 address, `[A-Za-z0-9.-]` only).
pub fn random_target<R: Rng + ?Sized>(rng: &mut R) -> String {
    const WORDS: [&str; 8] = ["web", "api", "db", "mail", "vpn", "shop", "edge", "auth"];
    const DOMAINS: [&str; 4] = ["example.com", "example.org", "corp.internal", "test.local"];
    match rng.random_range(0..10u8) {
        0..=4 => format!(
            "10.{}.{}.{}",
            rng.random_range(0..=255u8),
            rng.random_range(0..=255u8),
            rng.random_range(1..=254u8)
        ),
        5..=6 => format!(
            "192.168.{}.{}",
            rng.random_range(0..=255u8),
            rng.random_range(1..=254u8)
        ),
        _ => format!(
            "{}-{}.{}",
            WORDS[rng.random_range(0..WORDS.len())],
            rng.random_range(1..=999u16),
            DOMAINS[rng.random_range(0..DOMAINS.len())]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn ranks_stay_in_range_and_are_skewed_towards_one() {
        let zipf = ZipfRanks::new(100, 1.1).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0u32; 101];
        for _ in 0..20_000 {
            let k = zipf.sample(&mut rng);
            assert!((1..=100).contains(&k), "rank {k} out of 1..=100");
            counts[usize::try_from(k).unwrap()] += 1;
        }
        // P(1) ≈ 0.25, P(2) ≈ 0.12, P(50) ≈ 0.003 for n = 100, s = 1.1.
        assert!(
            counts[1] > counts[2] && counts[2] > counts[50],
            "{:?}",
            &counts[..10]
        );
        assert!(
            counts[1] > 4_000 && counts[1] < 6_000,
            "id 1 drawn {} times",
            counts[1]
        );
    }

    #[test]
    fn a_single_rank_is_always_one() {
        let zipf = ZipfRanks::new(1, 1.1).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        assert!((0..100).all(|_| zipf.sample(&mut rng) == 1));
        assert!(ZipfRanks::new(0, 1.1).is_err());
    }

    #[test]
    fn float_to_rank_clamps() {
        assert_eq!(float_to_rank(f64::NAN, 10), 1);
        assert_eq!(float_to_rank(-3.0, 10), 1);
        assert_eq!(float_to_rank(1e300, 10), 10);
        assert_eq!(float_to_rank(4.0, 10), 4);
    }

    #[test]
    fn targets_are_valid() {
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..1_000 {
            let t = random_target(&mut rng);
            assert!((1..=253).contains(&t.len()));
            assert!(
                t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                "{t}"
            );
        }
    }
}
