//! Exact sampling of the discrete Laplace (two-sided geometric) distribution,
//! `P[Z = z] ∝ exp(−|z| · num/den)`, after Canonne, Kamath and Steinke, "The Discrete Gaussian
//! for Differential Privacy" (NeurIPS 2020), Algorithms 1 and 2: integer arithmetic and
//! uniform integers only, so no floating-point rounding shapes the noise (spec/statistics.md
//! §7). The random source is the caller's: the node core lends it the driver's.

use crate::seal::CryptoRng;

/// A uniform integer in `[0, m)`, `m > 0`, by rejection (no modulo bias).
pub(crate) fn uniform<R: CryptoRng + ?Sized>(rng: &mut R, m: u64) -> u64 {
    let zone = u64::MAX - (u64::MAX % m);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % m;
        }
    }
}

/// Bernoulli(num/den), `num <= den`.
fn bernoulli<R: CryptoRng + ?Sized>(rng: &mut R, num: u64, den: u64) -> bool {
    uniform(rng, den) < num
}

/// Bernoulli(exp(−num/den)).
fn bernoulli_exp<R: CryptoRng + ?Sized>(rng: &mut R, num: u64, den: u64) -> bool {
    if num <= den {
        // K = first k >= 1 with A_k = 0, A_k ~ Bernoulli(γ/k); result: K odd.
        let mut k = 1u64;
        while bernoulli(rng, num, den.saturating_mul(k)) {
            k += 1;
        }
        k % 2 == 1
    } else {
        for _ in 0..num / den {
            if !bernoulli_exp(rng, 1, 1) {
                return false;
            }
        }
        bernoulli_exp(rng, num % den, den)
    }
}

/// One draw of the discrete Laplace distribution with `P[Z = z] ∝ exp(−|z| · s/t)`
/// (`s, t >= 1`).
pub fn discrete_laplace<R: CryptoRng + ?Sized>(rng: &mut R, s: u64, t: u64) -> i64 {
    loop {
        let u = uniform(rng, t);
        if !bernoulli_exp(rng, u, t) {
            continue;
        }
        let mut v = 0u64;
        while bernoulli_exp(rng, 1, 1) {
            v += 1;
        }
        let x = u + t * v;
        let y = (x / s) as i64;
        let negative = bernoulli(rng, 1, 2);
        if negative && y == 0 {
            continue;
        }
        return if negative { -y } else { y };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::SeededRng;

    /// The empirical distribution matches exp(−|z|·ε) for ε = 1/2 (s = 1, t = 2): the mass of
    /// zero, the ratio of neighbours, symmetry and the variance 2α/(1−α)².
    #[test]
    fn noise_has_the_discrete_laplace_distribution() {
        let mut rng = SeededRng::new([42; 32]);
        let n = 200_000;
        let draws: Vec<i64> = (0..n).map(|_| discrete_laplace(&mut rng, 1, 2)).collect();
        let alpha = (-0.5f64).exp();
        let p0 = (1.0 - alpha) / (1.0 + alpha);
        let freq = |z: i64| draws.iter().filter(|&&d| d == z).count() as f64 / n as f64;
        assert!((freq(0) - p0).abs() < 0.006, "P[0] {} vs {p0}", freq(0));
        for z in 1..4 {
            let want = p0 * alpha.powi(z as i32);
            assert!(
                (freq(z) - want).abs() < 0.006,
                "P[{z}] {} vs {want}",
                freq(z)
            );
            assert!(
                (freq(-z) - want).abs() < 0.006,
                "P[-{z}] {} vs {want}",
                freq(-z)
            );
        }
        let mean = draws.iter().sum::<i64>() as f64 / n as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        let var = draws
            .iter()
            .map(|&d| (d as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let want = 2.0 * alpha / (1.0 - alpha).powi(2);
        assert!((var / want - 1.0).abs() < 0.05, "variance {var} vs {want}");
    }

    /// A larger scale spreads the noise: ε = 1/20 has about ten times ε = 1/2's deviation.
    #[test]
    fn the_scale_follows_epsilon() {
        let mut rng = SeededRng::new([7; 32]);
        let n = 20_000;
        let mad = |rng: &mut SeededRng, s, t| {
            (0..n)
                .map(|_| discrete_laplace(rng, s, t).abs())
                .sum::<i64>() as f64
                / n as f64
        };
        let narrow = mad(&mut rng, 1, 2);
        let wide = mad(&mut rng, 1, 20);
        assert!(
            wide / narrow > 7.0 && wide / narrow < 13.0,
            "{narrow} {wide}"
        );
    }
}
