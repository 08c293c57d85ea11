//! The lexical statement normalizer behind per-statement statistics.
//!
//! It is a tokenizer, not a parser: string, numeric and dollar-quoted literals become `$n`
//! placeholders (numbered after the statement's own highest `$k` parameter), lists made only of
//! literals and placeholders after `IN` collapse to `IN (...)`, and so do the rows of a
//! `VALUES (…), (…)` list (`VALUES (...)`, so every batch size of a multi-row `INSERT` is one
//! statement), comments disappear and runs of
//! whitespace fold to one space. Quoted identifiers, keywords and identifiers are kept as written.
//! It runs once per distinct SQL text (the result is cached by [`Pool`](crate::Pool)), never per
//! query.
//!
//! The token rules follow the pool's back end ([`Dialect`]), because the same bytes split into
//! statements differently: a backslash escapes a quote only in MySQL strings (and PostgreSQL
//! `E'…'` strings), `$tag$` quotes only exist in PostgreSQL, `[…]` is an SQLite identifier, and
//! MySQL runs the text of `/*! … */` comments as code. Auto-EXPLAIN relies on the tokens to see
//! every `;` the server would see (on SQLite it is the only guard against a second statement).

/// The SQL dialect whose token rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// PostgreSQL with `standard_conforming_strings` on (the default since 9.1).
    Postgres,
    /// SQLite.
    Sqlite,
    /// MySQL and MariaDB with their default `sql_mode` (backslash escapes on).
    MySql,
}

impl Dialect {
    /// The dialect of a back end, from its OpenTelemetry `db.system` name.
    pub(crate) fn of_system(system: &str) -> Self {
        match system {
            "sqlite" => Self::Sqlite,
            "mysql" => Self::MySql,
            _ => Self::Postgres,
        }
    }
}

/// What a statement normalizes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Normalized {
    /// The normalized text.
    pub(crate) text: String,
    /// Whether the original has bind parameters (`$1`, `?`).
    pub(crate) has_params: bool,
    /// Whether the statement is one plain read (`SELECT …` or `WITH … SELECT`, no `;` anywhere,
    /// no `INSERT`/`UPDATE`/`DELETE`/`MERGE`/`INTO`, no `FOR UPDATE`/`FOR SHARE`).
    pub(crate) is_select: bool,
    /// Which statements of the text (bit `k` for the `k`-th non-empty one, up to 64) are writes
    /// whose rows-affected count means something: `INSERT`, `UPDATE`, `DELETE`, `REPLACE` or
    /// `MERGE`, possibly after a `WITH` clause.
    pub(crate) writes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    Literal,
    Param,
    Punct,
}

#[derive(Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    space_before: bool,
}

/// Normalizes `sql` with PostgreSQL's token rules (standard SQL: a backslash is an ordinary
/// character in strings); see the module docs for the rules. A [`Pool`](crate::Pool) uses the
/// rules of its own back end.
///
/// ```
/// assert_eq!(
///     perf_db::normalize_sql("SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x' -- hi"),
///     "SELECT * FROM t WHERE id IN (...) AND name = $1"
/// );
/// ```
#[must_use]
pub fn normalize_sql(sql: &str) -> String {
    normalize(sql, Dialect::Postgres).text
}

pub(crate) fn normalize(sql: &str, dialect: Dialect) -> Normalized {
    let (tokens, max_param, has_params) = tokenize(sql, dialect);
    let mut out = String::with_capacity(sql.len());
    let mut next_param = max_param + 1;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if token.space_before && !out.is_empty() {
            out.push(' ');
        }
        if token.kind == Kind::Word
            && token.text.eq_ignore_ascii_case("in")
            && let Some(end) = literal_list_end(&tokens, i + 1)
        {
            out.push_str(token.text);
            out.push_str(" (...)");
            i = end + 1;
            continue;
        }
        // `VALUES (…), (…), …` of literals: one shape whatever the number of rows
        if token.kind == Kind::Word
            && token.text.eq_ignore_ascii_case("values")
            && let Some(mut end) = literal_list_end(&tokens, i + 1)
        {
            while tokens.get(end + 1).is_some_and(|t| t.text == ",")
                && let Some(next) = literal_list_end(&tokens, end + 2)
            {
                end = next;
            }
            out.push_str(token.text);
            out.push_str(" (...)");
            i = end + 1;
            continue;
        }
        if token.kind == Kind::Literal {
            out.push('$');
            out.push_str(&next_param.to_string());
            next_param += 1;
        } else {
            out.push_str(token.text);
        }
        i += 1;
    }
    let is_select = is_plain_select(&tokens);
    let writes = tokens
        .split(|t| t.kind == Kind::Punct && t.text == ";")
        .filter(|statement| !statement.is_empty())
        .take(64)
        .enumerate()
        .fold(0u64, |writes, (k, statement)| {
            writes | (u64::from(is_write(statement)) << k)
        });
    Normalized {
        text: out,
        has_params,
        is_select,
        writes,
    }
}

/// Whether `sql` is at most one statement: no `;` is followed by anything but more `;`,
/// whitespace and comments (as `dialect` tokenizes them).
pub(crate) fn is_one_statement(sql: &str, dialect: Dialect) -> bool {
    let (tokens, ..) = tokenize(sql, dialect);
    let first_end = tokens
        .iter()
        .position(|t| t.kind == Kind::Punct && t.text == ";");
    first_end.is_none_or(|end| {
        tokens[end..]
            .iter()
            .all(|t| t.kind == Kind::Punct && t.text == ";")
    })
}

/// If `tokens[start..]` is `( item , item , … )`, the index of the closing parenthesis. An
/// item is a literal or a parameter (optionally signed), `NULL`, `TRUE`, `FALSE` or `DEFAULT`.
fn literal_list_end(tokens: &[Token<'_>], start: usize) -> Option<usize> {
    if tokens.get(start)?.text != "(" {
        return None;
    }
    let mut i = start + 1;
    loop {
        let mut item = tokens.get(i)?;
        if item.kind == Kind::Punct && matches!(item.text, "-" | "+") {
            i += 1;
            item = tokens.get(i)?;
        }
        let is_constant = |word: &str| {
            ["null", "true", "false", "default"]
                .iter()
                .any(|c| word.eq_ignore_ascii_case(c))
        };
        let literal = matches!(item.kind, Kind::Literal | Kind::Param)
            || (item.kind == Kind::Word && is_constant(item.text));
        if !literal {
            return None;
        }
        let sep = tokens.get(i + 1)?;
        match sep.text {
            ")" => return Some(i + 1),
            "," => i += 2,
            _ => return None,
        }
    }
}

fn is_write(tokens: &[Token<'_>]) -> bool {
    const WRITES: [&str; 5] = ["insert", "update", "delete", "replace", "merge"];
    let is_one_of = |t: &Token<'_>, words: &[&str]| {
        t.kind == Kind::Word && words.iter().any(|w| t.text.eq_ignore_ascii_case(w))
    };
    let mut words = tokens.iter().filter(|t| t.kind == Kind::Word);
    match words.next() {
        Some(first) if is_one_of(first, &WRITES) => true,
        // `WITH … AS (…) UPDATE …`: the statement's verb follows the last CTE at depth 0
        Some(first) if first.text.eq_ignore_ascii_case("with") => {
            let mut depth = 0usize;
            for t in tokens {
                match t.text {
                    "(" => depth += 1,
                    ")" => depth = depth.saturating_sub(1),
                    _ if depth == 0 && is_one_of(t, &["select", "values"]) => return false,
                    _ if depth == 0 && is_one_of(t, &WRITES) => return true,
                    _ => {}
                }
            }
            false
        }
        _ => false,
    }
}

fn is_plain_select(tokens: &[Token<'_>]) -> bool {
    let Some(first) = tokens.iter().find(|t| t.text != "(") else {
        return false;
    };
    if !(first.text.eq_ignore_ascii_case("select") || first.text.eq_ignore_ascii_case("with")) {
        return false;
    }
    let mut previous_for = false;
    for t in tokens {
        if t.kind == Kind::Punct && t.text == ";" {
            return false;
        }
        if t.kind == Kind::Word {
            let word = t.text;
            let is = |k: &str| word.eq_ignore_ascii_case(k);
            // data-modifying CTEs, SELECT INTO, and locking reads are not plain reads
            if is("insert") || is("delete") || is("merge") || is("into") {
                return false;
            }
            if is("update") || is("share") {
                if previous_for {
                    return false;
                }
                if is("update") {
                    return false;
                }
            }
            previous_for = is("for");
        }
    }
    true
}

fn tokenize(sql: &str, dialect: Dialect) -> (Vec<Token<'_>>, u32, bool) {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut max_param = 0u32;
    let mut has_params = false;
    let mut i = 0;
    let mut space = false;
    // Inside MySQL's `/*! … */`: its text is code, and the next `*/` only closes it.
    let mut executable_comment = false;
    while i < bytes.len() {
        let c = bytes[i];
        // whitespace and comments fold into one space
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if is_line_comment(bytes, i, dialect) {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        if executable_comment && c == b'*' && bytes.get(i + 1) == Some(&b'/') {
            executable_comment = false;
            i += 2;
            space = true;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            if dialect == Dialect::MySql
                && let Some(code) = executable_comment_start(bytes, i)
            {
                executable_comment = true;
                i = code;
            } else {
                i = skip_block_comment(bytes, i, dialect);
            }
            space = true;
            continue;
        }
        let start = i;
        let kind = match c {
            b'\'' => {
                i = skip_quoted(bytes, i, b'\'', dialect == Dialect::MySql);
                Kind::Literal
            }
            b'"' => {
                // a string in MySQL (backslash escapes apply), an identifier elsewhere
                i = skip_quoted(bytes, i, b'"', dialect == Dialect::MySql);
                Kind::Quoted
            }
            b'`' if dialect != Dialect::Postgres => {
                i = skip_quoted(bytes, i, b'`', false);
                Kind::Quoted
            }
            b'[' if dialect == Dialect::Sqlite => {
                // `[name]`: no escapes, ends at the first `]`
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(bytes.len(), |end| i + end + 1);
                Kind::Quoted
            }
            b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits > 0 {
                    i += 1 + digits;
                    has_params = true;
                    let n: u32 = sql[start + 1..i].parse().unwrap_or(0);
                    max_param = max_param.max(n);
                    Kind::Param
                } else if dialect == Dialect::Postgres
                    && let Some(end) = dollar_quote_end(sql, i)
                {
                    i = end;
                    Kind::Literal
                } else {
                    i += 1;
                    Kind::Punct
                }
            }
            b'?' => {
                i += 1;
                has_params = true;
                Kind::Param
            }
            b'0'..=b'9' => {
                i = skip_number(bytes, i);
                Kind::Literal
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = skip_number(bytes, i);
                Kind::Literal
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                // E'..', B'..', X'..', N'..' string prefixes; backslash escapes apply in
                // PostgreSQL's E'..' and in every MySQL string
                let prefix = c.to_ascii_lowercase();
                if i - start == 1
                    && bytes.get(i) == Some(&b'\'')
                    && matches!(prefix, b'e' | b'b' | b'x' | b'n')
                {
                    let backslash = dialect == Dialect::MySql
                        || (dialect == Dialect::Postgres && prefix == b'e');
                    i = skip_quoted(bytes, i, b'\'', backslash);
                    Kind::Literal
                } else {
                    Kind::Word
                }
            }
            _ => {
                i += 1;
                Kind::Punct
            }
        };
        tokens.push(Token {
            kind,
            text: &sql[start..i],
            space_before: space,
        });
        space = false;
    }
    (tokens, max_param, has_params)
}

/// `--` starts a comment everywhere, but MySQL needs a space or control character after it
/// (`2--1` is `2 - -1` there), and MySQL also has `#` comments.
fn is_line_comment(bytes: &[u8], i: usize, dialect: Dialect) -> bool {
    match (bytes[i], dialect) {
        (b'#', Dialect::MySql) => true,
        (b'-', Dialect::MySql) => {
            bytes.get(i + 1) == Some(&b'-')
                && bytes
                    .get(i + 2)
                    .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        }
        (b'-', _) => bytes.get(i + 1) == Some(&b'-'),
        _ => false,
    }
}

/// MySQL's `/*! … */`, `/*!50700 … */` and MariaDB's `/*M! … */`, `/*M!100100 … */`: the
/// index where their code starts (after the marker and the optional version number).
fn executable_comment_start(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 2;
    if bytes.get(i) == Some(&b'M') {
        i += 1;
    }
    if bytes.get(i) != Some(&b'!') {
        return None;
    }
    i += 1;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    Some(i)
}

/// Index just past the block comment opening at `start` (or the end of the text: SQLite accepts
/// an unterminated one). PostgreSQL's block comments nest.
fn skip_block_comment(bytes: &[u8], start: usize, dialect: Dialect) -> usize {
    let mut depth = 1usize;
    let mut i = start + 2;
    while i < bytes.len() {
        if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if dialect == Dialect::Postgres
            && bytes[i] == b'/'
            && bytes.get(i + 1) == Some(&b'*')
        {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Index just past the closing `quote`; a doubled quote stays inside, and so does a quote after
/// a backslash when `backslash_escapes` (MySQL strings, PostgreSQL `E'…'`). Everywhere else a
/// backslash is an ordinary character: `'\'` is a complete string in PostgreSQL and SQLite.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn skip_number(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < bytes.len() && matches!(bytes[j], b'+' | b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// `$tag$ … $tag$`: the index past the closing tag, if `start` opens one.
fn dollar_quote_end(sql: &str, start: usize) -> Option<usize> {
    let rest = &sql[start + 1..];
    let tag_len = rest.find('$')?;
    let tag = &rest[..tag_len];
    if !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let delimiter = &sql[start..start + tag_len + 2];
    let body_start = start + tag_len + 2;
    let close = sql[body_start..].find(delimiter)?;
    Some(body_start + close + delimiter.len())
}

#[cfg(test)]
mod tests {
    use super::{Dialect, normalize as normalize_in};

    fn normalize(sql: &str) -> super::Normalized {
        normalize_in(sql, Dialect::Postgres)
    }

    #[test]
    fn select_detection() {
        assert!(normalize("SELECT 1").is_select);
        assert!(normalize(" (select a from t)").is_select);
        assert!(!normalize("SELECT a FROM t FOR UPDATE").is_select);
        assert!(!normalize("SELECT 1; DELETE FROM t").is_select);
        assert!(!normalize("UPDATE t SET a = 1").is_select);
        assert!(!normalize("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").is_select);
        assert!(normalize("WITH d AS (SELECT 1) SELECT * FROM d").is_select);
        assert!(!normalize("SELECT a FROM t FOR SHARE").is_select);
        for write in [
            "INSERT INTO t VALUES (1)",
            "update t SET a = 1",
            "DELETE FROM t",
            "REPLACE INTO t VALUES (1)",
            "WITH d AS (SELECT 1) UPDATE t SET a = 1",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO t SELECT x FROM c",
        ] {
            assert_eq!(normalize(write).writes, 1, "{write}");
        }
        for other in [
            "SELECT 1",
            "CREATE TABLE t (x INT)",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "PRAGMA journal_mode",
        ] {
            assert_eq!(normalize(other).writes, 0, "{other}");
        }
        // one bit per non-empty statement
        assert_eq!(
            normalize("SELECT 1;; DELETE FROM t; SELECT 2; UPDATE t SET a = 1;").writes,
            0b1010
        );
        assert!(normalize("SELECT $1").has_params);
        assert!(!normalize("SELECT '$1'").has_params);
    }

    /// Whether `sql`, tokenized as `dialect`, is one plain read.
    fn one_read(sql: &str, dialect: Dialect) -> bool {
        normalize_in(sql, dialect).is_select
    }

    #[test]
    fn a_backslash_does_not_hide_a_second_statement_in_postgres_or_sqlite() {
        let text = r"SELECT replace(p,'\','/') FROM f; UPDATE counters SET n = n + 1";
        assert!(!one_read(text, Dialect::Postgres));
        assert!(!one_read(text, Dialect::Sqlite));
        assert_eq!(
            normalize_in(r"SELECT '\', 'a' FROM t", Dialect::Sqlite).text,
            "SELECT $1, $2 FROM t"
        );
        // PostgreSQL's E'' strings do use backslash escapes
        assert!(one_read(
            r"SELECT E'\'; UPDATE t SET a = 1'",
            Dialect::Postgres
        ));
    }

    #[test]
    fn sqlite_token_rules() {
        // `$a$` is a parameter name in SQLite, not a dollar quote
        assert!(!one_read(
            "SELECT $a$; UPDATE c SET n = 1; SELECT $a$",
            Dialect::Sqlite
        ));
        // `[a'b]` is an identifier: its quote opens no string
        assert!(!one_read(
            "SELECT [a'b]; UPDATE c SET n = 1",
            Dialect::Sqlite
        ));
        assert_eq!(
            normalize_in("SELECT [a'b] FROM t WHERE x = 1", Dialect::Sqlite).text,
            "SELECT [a'b] FROM t WHERE x = $1"
        );
        assert!(!one_read(
            "SELECT `a'b`; UPDATE c SET n = 1",
            Dialect::Sqlite
        ));
    }

    #[test]
    fn mysql_token_rules() {
        // backslash escapes in both quote styles
        assert!(!one_read(
            r#"SELECT "a\"" FROM f; UPDATE c SET n = n + 1"#,
            Dialect::MySql
        ));
        assert_eq!(
            normalize_in(r"SELECT 'it\'s' FROM t", Dialect::MySql).text,
            "SELECT $1 FROM t"
        );
        // `--` needs a space after it to be a comment
        assert!(!one_read("SELECT 2--1; UPDATE c SET n = 1", Dialect::MySql));
        assert!(one_read("SELECT 2 -- ; UPDATE c SET n = 1", Dialect::MySql));
        assert!(!one_read(
            "SELECT 1 # comment\n; UPDATE c SET n = 1",
            Dialect::MySql
        ));
        // executable comments are code
        assert!(!one_read(
            "SELECT a FROM t /*!50000 FOR UPDATE */",
            Dialect::MySql
        ));
        assert!(!one_read(
            "SELECT 1 /*M!; UPDATE c SET n = 1 */",
            Dialect::MySql
        ));
        assert_eq!(
            normalize_in(
                "SELECT /*! SQL_NO_CACHE */ a FROM t WHERE x = 1",
                Dialect::MySql
            )
            .text,
            "SELECT SQL_NO_CACHE a FROM t WHERE x = $1"
        );
        // a plain comment stays a comment
        assert!(one_read("SELECT a /* ; UPDATE */ FROM t", Dialect::MySql));
    }

    #[test]
    fn values_lists_collapse_whatever_the_number_of_rows() {
        let one = normalize("INSERT INTO t (a, b) VALUES (1, 'x')").text;
        assert_eq!(one, "INSERT INTO t (a, b) VALUES (...)");
        for rows in [
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (-3, NULL)",
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
            "INSERT INTO t (a, b) values (1,'x'),(2,'y'),(3,DEFAULT),(4,TRUE)",
        ] {
            assert_eq!(
                normalize(rows).text.to_lowercase(),
                one.to_lowercase(),
                "{rows}"
            );
        }
        // rows holding expressions keep their shape
        assert_eq!(
            normalize("INSERT INTO t VALUES (now(), 1)").text,
            "INSERT INTO t VALUES (now(), $1)"
        );
        assert_eq!(
            normalize("INSERT INTO t VALUES (1), (2) ON CONFLICT DO NOTHING").text,
            "INSERT INTO t VALUES (...) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn postgres_block_comments_nest() {
        assert_eq!(
            normalize_in("SELECT /* a /* b */ ; */ 1", Dialect::Postgres).text,
            "SELECT $1"
        );
        assert!(!one_read(
            "SELECT $q$ ; $q$; DELETE FROM t",
            Dialect::Postgres
        ));
    }
}
