//! Benjamini–Hochberg control of the false discovery rate over many local tests.

/// Benjamini–Hochberg adjusted p-values (as `scipy.stats.false_discovery_control(p,
/// method="bh")`): `p̃₍ᵢ₎ = min over j ≥ i of min(1, n·p₍ⱼ₎ / j)` in ascending order. A site is
/// a discovery at rate `q` exactly when its adjusted p-value is ≤ q, which is the step-up rule
/// "reject the k smallest, k the largest i with p₍ᵢ₎ ≤ q·i/n". Missing p-values (islands) are
/// left out of n and stay missing.
pub fn benjamini_hochberg(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    order.sort_by(|&a, &b| p[a].unwrap_or(1.0).total_cmp(&p[b].unwrap_or(1.0)));
    let n = order.len() as f64;
    let mut out = vec![None; p.len()];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        let v = p[i].unwrap_or(1.0) * n / (rank as f64 + 1.0);
        running = running.min(v).min(1.0);
        out[i] = Some(running);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up() {
        let p = [Some(0.01), Some(0.04), None, Some(0.03), Some(0.5)];
        let adj = benjamini_hochberg(&p);
        // Sorted: 0.01, 0.03, 0.04, 0.5 → 0.04, 0.0533…, 0.0533…, 0.5.
        assert_eq!(adj[0], Some(0.04));
        assert!((adj[3].unwrap() - 0.16 / 3.0).abs() < 1e-15);
        assert_eq!(adj[1], adj[3]);
        assert_eq!(adj[2], None);
        assert_eq!(adj[4], Some(0.5));
    }
}
