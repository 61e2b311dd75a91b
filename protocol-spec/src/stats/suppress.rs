//! Small-count suppression (spec/statistics.md §6): primary suppression of every count
//! `0 < n < k`, then complementary suppression until no suppressed figure can be recomputed
//! exactly from the published ones through the report's linear relations (totals).
//!
//! A suppressed figure `x_i` is recomputable iff every solution of the relations, given the
//! published figures, has the same `x_i`: iff `e_i` lies in the row space of the relations
//! restricted to the suppressed figures. That is decided by Gaussian elimination modulo the
//! prime 2^61 − 1: the relations' coefficients are small integers (±1 for sums), whose minors
//! are far below the prime for the sizes a report has.

/// One linear relation the report publishes: `Σ coefficient · figure = 0`, e.g. a total
/// (`-1`) and its parts (`+1`).
pub type Relation = Vec<(usize, i64)>;

/// How a figure is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Shown,
    /// Primary suppression: `0 < n < k`, or tied to a suppressed count (forced).
    Small,
    /// Complementary suppression: hidden so that a small figure cannot be recomputed.
    Withheld,
}

const P: u64 = (1 << 61) - 1;

fn mul(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(P)) as u64
}

fn inv(a: u64) -> u64 {
    // Fermat: a^(p-2).
    let (mut base, mut exp, mut acc) = (a, P - 2, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul(acc, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    acc
}

fn residue(c: i64) -> u64 {
    (i128::from(c)).rem_euclid(i128::from(P)) as u64
}

/// For each figure, whether it is hidden and yet recomputable from the published figures
/// through `relations`.
pub fn recomputable(n: usize, relations: &[Relation], hidden: &[bool]) -> Vec<bool> {
    let cols: Vec<usize> = (0..n).filter(|&i| hidden[i]).collect();
    let col_of = |i: usize| cols.binary_search(&i).ok();
    let mut rows: Vec<Vec<u64>> = relations
        .iter()
        .map(|r| {
            let mut row = vec![0u64; cols.len()];
            for &(i, c) in r {
                if let Some(j) = col_of(i) {
                    row[j] = (row[j] + residue(c)) % P;
                }
            }
            row
        })
        .filter(|row| row.iter().any(|&v| v != 0))
        .collect();
    // Reduced row echelon form.
    let mut pivot_row = 0;
    let mut pivots = Vec::new();
    for j in 0..cols.len() {
        let Some(r) = (pivot_row..rows.len()).find(|&r| rows[r][j] != 0) else {
            continue;
        };
        rows.swap(pivot_row, r);
        let f = inv(rows[pivot_row][j]);
        for v in rows[pivot_row].iter_mut() {
            *v = mul(*v, f);
        }
        let pivot = rows[pivot_row].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            if r != pivot_row && row[j] != 0 {
                let f = row[j];
                for (v, &p) in row.iter_mut().zip(&pivot) {
                    *v = (*v + P - mul(f, p)) % P;
                }
            }
        }
        pivots.push((pivot_row, j));
        pivot_row += 1;
    }
    let mut out = vec![false; n];
    for (r, j) in pivots {
        if rows[r].iter().enumerate().all(|(c, &v)| c == j || v == 0) {
            out[cols[j]] = true;
        }
    }
    out
}

/// Marks every figure: `Small` for `0 < value < k` and for `forced` ones, then `Withheld` for
/// complements, chosen one at a time while some suppressed figure is recomputable: the
/// smallest published non-zero figure (the smallest zero if there is none, the lowest index
/// among equals) of the first relation with a single suppressed figure, or, if there is none,
/// of the relations the recomputable figure takes part in.
pub fn suppress(values: &[u64], forced: &[bool], relations: &[Relation], k: u32) -> Vec<Mark> {
    let n = values.len();
    let mut marks: Vec<Mark> = (0..n)
        .map(|i| {
            if forced[i] || (values[i] > 0 && values[i] < u64::from(k)) {
                Mark::Small
            } else {
                Mark::Shown
            }
        })
        .collect();
    loop {
        let hidden: Vec<bool> = marks.iter().map(|m| *m != Mark::Shown).collect();
        let exposed = recomputable(n, relations, &hidden);
        let Some(i) = (0..n).find(|&i| exposed[i]) else {
            break;
        };
        let shown_in = |rels: &mut dyn Iterator<Item = &Relation>| -> Vec<usize> {
            let mut v: Vec<usize> = rels
                .flat_map(|r| r.iter().map(|&(j, _)| j))
                .filter(|&j| marks[j] == Mark::Shown)
                .collect();
            v.sort();
            v.dedup();
            v
        };
        // A relation with one suppressed figure gives it away outright: complete it first.
        // Otherwise (a chain of relations gives the figure away) complete one of its own.
        let lonely = relations
            .iter()
            .find(|r| r.iter().filter(|&&(j, _)| hidden[j]).count() == 1);
        let mut candidates = match lonely {
            Some(r) => shown_in(&mut std::iter::once(r)),
            None => shown_in(&mut relations.iter().filter(|r| r.iter().any(|&(j, _)| j == i))),
        };
        if candidates.is_empty() {
            candidates = shown_in(&mut relations.iter());
        }
        let Some(&c) = candidates
            .iter()
            .min_by_key(|&&j| (values[j] == 0, values[j], j))
        else {
            break;
        };
        marks[c] = Mark::Withheld;
    }
    marks
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Relations of an r×c table with row totals, column totals and a grand total, laid out
    /// row by row as an (r+1)×(c+1) grid (last row and column: totals).
    pub(crate) fn grid_relations(r: usize, c: usize) -> Vec<Relation> {
        let at = |i: usize, j: usize| i * (c + 1) + j;
        let mut rels = Vec::new();
        for i in 0..=r {
            let mut rel: Relation = (0..c).map(|j| (at(i, j), 1)).collect();
            rel.push((at(i, c), -1));
            rels.push(rel);
        }
        for j in 0..=c {
            let mut rel: Relation = (0..r).map(|i| (at(i, j), 1)).collect();
            rel.push((at(r, j), -1));
            rels.push(rel);
        }
        rels
    }

    pub(crate) fn grid_values(cells: &[Vec<u64>]) -> Vec<u64> {
        let (r, c) = (cells.len(), cells[0].len());
        let mut v = vec![0u64; (r + 1) * (c + 1)];
        for i in 0..r {
            for j in 0..c {
                v[i * (c + 1) + j] = cells[i][j];
                v[i * (c + 1) + c] += cells[i][j];
                v[r * (c + 1) + j] += cells[i][j];
                v[r * (c + 1) + c] += cells[i][j];
            }
        }
        v
    }

    /// Exact rational elimination, independent of the modular one above: is `x_i` the same in
    /// every real solution of the relations with the published figures fixed?
    pub(crate) fn determined_exactly(
        n: usize,
        rels: &[Relation],
        hidden: &[bool],
        i: usize,
    ) -> bool {
        // x_i is free iff there is a null vector z of the hidden columns with z_i != 0, iff
        // column i is in the span of the other hidden columns: compare ranks.
        fn rank(mut m: Vec<Vec<i128>>) -> usize {
            let mut rank = 0;
            let cols = m.first().map_or(0, Vec::len);
            for j in 0..cols {
                let Some(p) = (rank..m.len()).find(|&r| m[r][j] != 0) else {
                    continue;
                };
                m.swap(rank, p);
                let pivot = m[rank].clone();
                for (r, row) in m.iter_mut().enumerate() {
                    if r != rank && row[j] != 0 {
                        let (a, b) = (pivot[j], row[j]);
                        for (v, &p) in row.iter_mut().zip(&pivot) {
                            *v = *v * a - p * b;
                        }
                        let g = row.iter().fold(0i128, |g, &v| gcd(g, v.abs()));
                        if g > 1 {
                            row.iter_mut().for_each(|v| *v /= g);
                        }
                    }
                }
                rank += 1;
            }
            rank
        }
        fn gcd(a: i128, b: i128) -> i128 {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        let cols: Vec<usize> = (0..n).filter(|&j| hidden[j]).collect();
        let matrix = |keep: &dyn Fn(usize) -> bool| -> Vec<Vec<i128>> {
            rels.iter()
                .map(|r| {
                    cols.iter()
                        .filter(|&&j| keep(j))
                        .map(|&j| {
                            r.iter()
                                .filter(|&&(x, _)| x == j)
                                .map(|&(_, c)| i128::from(c))
                                .sum()
                        })
                        .collect()
                })
                .collect()
        };
        rank(matrix(&|_| true)) > rank(matrix(&|j| j != i))
    }

    #[test]
    fn a_single_small_cell_takes_a_complement_in_its_row_and_column() {
        // 2×3 table; one cell (3) under k = 5.
        let v = grid_values(&[vec![3, 20, 30], vec![40, 50, 60]]);
        let rels = grid_relations(2, 3);
        let marks = suppress(&v, &vec![false; v.len()], &rels, 5);
        assert_eq!(marks[0], Mark::Small);
        let hidden: Vec<bool> = marks.iter().map(|m| *m != Mark::Shown).collect();
        for i in 0..v.len() {
            if hidden[i] {
                assert!(
                    !determined_exactly(v.len(), &rels, &hidden, i),
                    "cell {i} recomputable"
                );
            }
        }
        // Its row total minus the others no longer gives it: at least one more in the row.
        assert!(hidden[1] || hidden[2] || hidden[3]);
        assert!(hidden[4] || hidden[8]);
        // Nothing is hidden that need not be: the smallest complements (20 in the row, 40 in
        // the column, and 50 to close the rectangle).
        let withheld: Vec<usize> = (0..v.len())
            .filter(|&i| marks[i] == Mark::Withheld)
            .collect();
        assert_eq!(withheld, vec![1, 4, 5]);
    }

    #[test]
    fn zeros_and_large_counts_are_shown() {
        let v = grid_values(&[vec![0, 20], vec![30, 0]]);
        let marks = suppress(&v, &vec![false; v.len()], &grid_relations(2, 2), 5);
        assert!(marks.iter().all(|m| *m == Mark::Shown));
    }

    #[test]
    fn a_total_equal_to_a_single_part_is_hidden_with_it() {
        // total = part: a relation of two figures.
        let rels = vec![vec![(0, 1), (1, -1)]];
        let marks = suppress(&[2, 2], &[false, false], &rels, 5);
        assert_eq!(marks, vec![Mark::Small, Mark::Small]);
        let marks = suppress(&[9, 9], &[true, false], &rels, 5);
        assert_eq!(marks, vec![Mark::Small, Mark::Withheld]);
    }
}
