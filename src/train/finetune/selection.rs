//! Which sentences a run learns and which judge it: the reviewed ones, split into trained and
//! held out by a hash of their words, and a seeded sample of the original training data.

use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::REPLAY_FILE;
use crate::data::io::read_sentences_strict;
use crate::data::{DataError, Sentence};

/// Splits reviewed sentences into `(train, held_out)`, each in the input order.
///
/// A sentence's side is decided by a hash of its words and `seed`, not by its position: it is
/// held out when the hash, read as a number in [0, 1), is below `fraction`. So a sentence keeps
/// its side as more sentences are reviewed and the split is run again, and one that an accepted
/// model was trained on does not turn up later among the sentences that judge the next one
/// (sentences with the same words share a side too). Bounds on the count move a few
/// sentences, those with the lowest hashes held out first: with two or more sentences at least
/// one is held out and at least one trained on, and at most `⌈2 · fraction · n⌉` are held out
/// (a small set can draw far more than its share). Only these bounds, as the set grows, can
/// (rarely) move a trained sentence to the held-out side. `fraction` 0 holds nothing out; a
/// single sentence is never held out.
pub fn split_held_out(
    reviewed: &[Sentence],
    fraction: f64,
    seed: u64,
) -> (Vec<Sentence>, Vec<Sentence>) {
    let n = reviewed.len();
    if n < 2 || fraction <= 0.0 {
        return (reviewed.to_vec(), Vec::new());
    }
    let draws: Vec<f64> = reviewed.iter().map(|s| unit_hash(&s.tokens, seed)).collect();
    let mut by_draw: Vec<usize> = (0..n).collect();
    by_draw.sort_by(|&a, &b| draws[a].total_cmp(&draws[b]).then(a.cmp(&b)));
    let below = draws.iter().filter(|&&u| u < fraction).count();
    let most = ((2.0 * fraction * n as f64).ceil() as usize).clamp(1, n - 1);
    let mut held = vec![false; n];
    for &i in &by_draw[..below.clamp(1, most)] {
        held[i] = true;
    }
    let mut train = Vec::new();
    let mut held_out = Vec::new();
    for (s, h) in reviewed.iter().zip(held) {
        if h { &mut held_out } else { &mut train }.push(s.clone());
    }
    (train, held_out)
}

/// FNV-1a of the seed and the words, finished with SplitMix64's mixer, as a number in [0, 1).
/// Hand-written so that splits stay the same across Rust versions and platforms.
fn unit_hash(tokens: &[String], seed: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&seed.to_le_bytes());
    for token in tokens {
        eat(token.as_bytes());
        eat(&[0x1f]);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` sentences of `pool` drawn with `seed` (all of them when it has no more), in pool order.
pub fn draw(pool: &[Sentence], n: usize, seed: u64) -> Vec<Sentence> {
    if n >= pool.len() {
        return pool.to_vec();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, pool.len(), n).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| pool[i].clone()).collect()
}

/// `n` sentences drawn with `seed` from the replay sample in `checkpoint_dir`
/// ([`REPLAY_FILE`]); empty when the checkpoint has none.
pub fn replay_sample(
    checkpoint_dir: &Path,
    n: usize,
    seed: u64,
) -> Result<Vec<Sentence>, DataError> {
    let path = checkpoint_dir.join(REPLAY_FILE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    Ok(draw(&read_sentences_strict(&path)?, n, seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(words: &str) -> Sentence {
        Sentence::from_tokens(words.split_whitespace().map(String::from).collect())
    }

    fn many(n: usize) -> Vec<Sentence> {
        (0..n).map(|i| sentence(&format!("sentence number {i} ."))).collect()
    }

    #[test]
    fn the_split_is_deterministic_and_keeps_one_on_each_side() {
        let reviewed = many(20);
        let (train, held) = split_held_out(&reviewed, 0.2, 7);
        assert_eq!((train.clone(), held.clone()), split_held_out(&reviewed, 0.2, 7));
        assert_eq!(train.len() + held.len(), 20);
        assert!((1..=9).contains(&held.len()), "{}", held.len());
        for n in 2..6 {
            for fraction in [0.01, 0.5, 0.99] {
                let (t, h) = split_held_out(&many(n), fraction, 3);
                assert!(!t.is_empty() && !h.is_empty(), "{n} {fraction}");
            }
        }
        assert_eq!(split_held_out(&many(1), 0.5, 0).1.len(), 0);
        assert_eq!(split_held_out(&many(5), 0.0, 0).1.len(), 0);
    }

    #[test]
    fn a_trained_sentence_is_not_held_out_later() {
        let (first_train, _) = split_held_out(&many(30), 0.2, 1);
        let (_, later_held) = split_held_out(&many(60), 0.2, 1);
        assert!(first_train.iter().all(|s| !later_held.contains(s)));
    }

    #[test]
    fn draws_are_seeded_and_in_pool_order() {
        let pool = many(50);
        let a = draw(&pool, 10, 4);
        assert_eq!(a, draw(&pool, 10, 4));
        assert_ne!(a, draw(&pool, 10, 5));
        let positions: Vec<usize> =
            a.iter().map(|s| pool.iter().position(|p| p == s).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(draw(&pool, 80, 4).len(), 50);
    }
}
