//! The benchmarks' pure helpers (`emofuse bench fusion`): row sampling and text statistics.

use emofuse::bench::fusion::{TextStats, spread_rows};

#[test]
fn spread_rows_spreads_the_sample_over_the_table_in_order() {
    assert_eq!(spread_rows(10, 4), vec![0, 2, 5, 7]);
    assert_eq!(spread_rows(9989, 48).len(), 48);
    assert_eq!(spread_rows(9989, 48)[47], 47 * 9989 / 48);
    // Asking for more rows than there are gives them all.
    assert_eq!(spread_rows(3, 5), vec![0, 1, 2]);
}

#[test]
fn text_stats_count_the_positions_of_each_padding() {
    // 40 texts: 39 of 4 tokens and one of 20, at chunks of 32.
    let mut lengths = vec![4; 40];
    lengths[5] = 20;
    let stats = TextStats::new(&lengths, 1, 128);
    assert_eq!(stats.count, 40);
    assert_eq!(stats.max_tokens, 20);
    assert_eq!(stats.tokens, 39 * 4 + 20);
    assert_eq!(stats.truncated, 1);
    // Sorted: the long text goes last, in the second chunk (32 x 4 + 8 x 20); unsorted it is in
    // the first (32 x 20 + 8 x 4); fixed: 40 x 128.
    assert_eq!(stats.sorted_positions, 32 * 4 + 8 * 20);
    assert_eq!(stats.unsorted_positions, 32 * 20 + 8 * 4);
    assert_eq!(stats.fixed_positions, 40 * 128);
}
