//! Log-linear bucket layout shared by every windowed series.
//!
//! Each power of two ("octave") between [`MIN_VALUE`] (2^-40 ≈ 9.1e-13) and [`MAX_VALUE`]
//! (2^40 ≈ 1.1e12) is split into 16 linear sub-buckets, so a bucket's width is at most 1/16 of
//! its lower bound and the midpoint is within ±3.1 % of any value in the bucket. The range covers
//! seconds from picoseconds to ten thousand years and byte sizes up to a terabyte; the window
//! allocates an octave's 16 counters only when a value lands in it, so a series pays for the
//! octaves it uses. Index 0 holds values below `MIN_VALUE` (zero, negatives); the last index
//! holds values at or above `MAX_VALUE`. (NaN and ±∞ never get here: the recorder rejects them.)

/// log2 of the number of linear sub-buckets per power of two.
const SUB_BITS: u32 = 4;
const SUB_BUCKETS: u64 = 1 << SUB_BITS;
/// Smallest tracked exponent: 2^-40 ≈ 9.1e-13.
const MIN_EXP: i32 = -40;
/// One past the largest tracked exponent: 2^40 ≈ 1.1e12.
const MAX_EXP: i32 = 40;
/// Octaves tracked (`MAX_EXP - MIN_EXP`).
pub(crate) const OCTAVES: usize = 80;
/// Linear sub-buckets per octave.
pub(crate) const PER_OCTAVE: usize = 16;

/// Smallest value with its own bucket.
pub(crate) const MIN_VALUE: f64 = 1.0 / 1_099_511_627_776.0; // 2^-40
/// Values at or above this share the overflow bucket.
pub(crate) const MAX_VALUE: f64 = 1_099_511_627_776.0; // 2^40
/// Number of buckets per series slot, underflow and overflow included.
pub(crate) const BUCKETS: usize = 2 + OCTAVES * PER_OCTAVE;

const OVERFLOW: usize = BUCKETS - 1;
const F64_EXP_BIAS: u64 = 1023;
const F64_MANTISSA_BITS: u32 = 52;

/// The bucket a value falls into.
#[inline]
pub(crate) fn index_of(value: f64) -> usize {
    // NaN compares false, so it joins the underflow bucket too.
    if value.is_nan() || value < MIN_VALUE {
        return 0;
    }
    if value >= MAX_VALUE {
        return OVERFLOW;
    }
    let bits = value.to_bits();
    let exponent = (bits >> F64_MANTISSA_BITS) & 0x7ff;
    let sub = (bits >> (F64_MANTISSA_BITS - SUB_BITS)) & (SUB_BUCKETS - 1);
    // value >= 2^MIN_EXP, so the biased exponent is at least F64_EXP_BIAS + MIN_EXP.
    let octave = exponent - (F64_EXP_BIAS - u64::from(MIN_EXP.unsigned_abs()));
    debug_assert!(octave < OCTAVES as u64);
    usize::try_from(1 + octave * SUB_BUCKETS + sub).unwrap_or(OVERFLOW)
}

/// Lower and upper bound (seconds) of a regular bucket (`1..BUCKETS - 1`).
pub(crate) fn bounds_of(index: usize) -> (f64, f64) {
    if index == 0 {
        return (0.0, MIN_VALUE);
    }
    if index >= OVERFLOW {
        return (MAX_VALUE, f64::INFINITY);
    }
    let k = index - 1;
    let octave = i32::try_from(k >> SUB_BITS).unwrap_or(MAX_EXP);
    let sub = k & 0xf;
    let base = 2f64.powi(MIN_EXP + octave);
    let width = base / 16.0;
    let sub = f64::from(u8::try_from(sub).unwrap_or(15));
    (base + sub * width, base + (sub + 1.0) * width)
}

/// The value reported for a bucket: its midpoint (±3.1 % of any member).
pub(crate) fn representative(index: usize) -> f64 {
    let (low, high) = bounds_of(index);
    if high.is_infinite() {
        low
    } else {
        (low + high) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_inside_their_bucket_bounds() {
        let mut v = MIN_VALUE;
        while v < MAX_VALUE {
            let i = index_of(v);
            let (low, high) = bounds_of(i);
            assert!(
                low <= v && v < high,
                "{v} not in [{low}, {high}) (bucket {i})"
            );
            let mid = representative(i);
            assert!((mid - v).abs() / v <= 1.0 / 32.0 + 1e-12, "{v} -> {mid}");
            v *= 1.013;
        }
    }

    #[test]
    fn out_of_range_values_use_the_edge_buckets() {
        assert_eq!(index_of(0.0), 0);
        assert_eq!(index_of(-1.0), 0);
        assert_eq!(index_of(f64::NAN), 0);
        assert_eq!(index_of(MIN_VALUE / 2.0), 0);
        assert_eq!(index_of(MIN_VALUE), 1);
        assert_eq!(index_of(MAX_VALUE), BUCKETS - 1);
        assert_eq!(index_of(f64::INFINITY), BUCKETS - 1);
        assert_eq!(index_of(MAX_VALUE * 0.999), BUCKETS - 2);
        assert_eq!(index_of(1e-9), 1 + 10 * 16 + 1); // 2^-30 × 1.07: octave 10, sub-bucket 1
        assert!(index_of(1e9) < BUCKETS - 1);
    }

    #[test]
    fn indices_are_monotonic() {
        let mut last = 0;
        let mut v = MIN_VALUE / 4.0;
        while v < MAX_VALUE * 4.0 {
            let i = index_of(v);
            assert!(i >= last);
            last = i;
            v *= 1.001;
        }
    }
}
