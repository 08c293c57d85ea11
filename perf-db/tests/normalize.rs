//! The lexical normalizer.

use perf_db::normalize_sql;

#[test]
fn normalization_table() {
    let table = [
        // literals
        (
            "SELECT * FROM users WHERE id = 42",
            "SELECT * FROM users WHERE id = $1",
        ),
        (
            "SELECT * FROM t WHERE name = 'O''Brien' AND x > 3.5e2",
            "SELECT * FROM t WHERE name = $1 AND x > $2",
        ),
        (
            "SELECT * FROM t WHERE a = $1 AND b = 7",
            "SELECT * FROM t WHERE a = $1 AND b = $2",
        ),
        ("SELECT E'x\\'y', X'ff', $$body$$", "SELECT $1, $2, $3"),
        ("SELECT 0x1F, .5", "SELECT $1, $2"),
        // identifiers are kept, quoted or not
        (
            "SELECT \"col 1\", t1.c2 FROM t1",
            "SELECT \"col 1\", t1.c2 FROM t1",
        ),
        // IN lists collapse, whatever their length or kind
        (
            "SELECT * FROM t WHERE id IN (1, 2, 3)",
            "SELECT * FROM t WHERE id IN (...)",
        ),
        (
            "SELECT * FROM t WHERE id IN (1,2,3,4,5,6) AND k in ('a')",
            "SELECT * FROM t WHERE id IN (...) AND k in (...)",
        ),
        (
            "SELECT * FROM t WHERE id IN ($1, $2)",
            "SELECT * FROM t WHERE id IN (...)",
        ),
        (
            "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
            "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
        ),
        // comments and whitespace fold
        (
            "SELECT  a,\n\t b -- trailing\nFROM /* inline */ t",
            "SELECT a, b FROM t",
        ),
        ("  SELECT 1  ", "SELECT $1"),
        // MySQL placeholders stay
        (
            "UPDATE t SET a = ? WHERE id = 5",
            "UPDATE t SET a = ? WHERE id = $1",
        ),
        // casts are not parameters
        ("SELECT 1::int", "SELECT $1::int"),
    ];
    for (input, expected) in table {
        assert_eq!(normalize_sql(input), expected, "normalizing {input:?}");
    }
}

#[test]
fn statements_differing_only_in_literals_normalize_alike() {
    assert_eq!(
        normalize_sql("SELECT * FROM orders WHERE user_id = 1 AND status IN ('a','b')"),
        "SELECT * FROM orders WHERE user_id = $1 AND status IN (...)"
    );
    assert_eq!(
        normalize_sql("SELECT * FROM orders WHERE user_id = 1"),
        normalize_sql("SELECT  *  FROM orders WHERE user_id = 99 -- other")
    );
}

#[test]
fn every_batch_size_of_a_multi_row_insert_is_one_statement() {
    let shape = normalize_sql("INSERT INTO t (a, b) VALUES (1, 'x')");
    for rows in 2..50 {
        let values: Vec<String> = (0..rows).map(|r| format!("({r}, 'v{r}')")).collect();
        let sql = format!("INSERT INTO t (a, b) VALUES {}", values.join(", "));
        assert_eq!(normalize_sql(&sql), shape, "{rows} rows");
    }
    assert_eq!(shape, "INSERT INTO t (a, b) VALUES (...)");
}
