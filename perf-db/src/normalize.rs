//! The lexical statement normalizer behind per-statement statistics.
//!
//! It is a tokenizer, not a parser: string, numeric and dollar-quoted literals become `$n`
//! placeholders (numbered after the statement's own highest `$k` parameter), lists made only of
//! literals and placeholders after `IN` collapse to `IN (...)`, comments disappear and runs of
//! whitespace fold to one space. Quoted identifiers, keywords and identifiers are kept as written.
//! It runs once per distinct SQL text (the result is cached by [`Pool`](crate::Pool)), never per
//! query.

/// What a statement normalizes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Normalized {
    /// The normalized text.
    pub(crate) text: String,
    /// Whether the original has bind parameters (`$1`, `?`).
    pub(crate) has_params: bool,
    /// Whether the statement is a plain read (`SELECT …` or `WITH … SELECT`, no `;`, no
    /// `INSERT`/`UPDATE`/`DELETE`/`MERGE`/`INTO`, no `FOR UPDATE`/`FOR SHARE`).
    pub(crate) is_select: bool,
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

/// Normalizes `sql`; see the module docs for the rules.
///
/// ```
/// assert_eq!(
///     perf_db::normalize_sql("SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x' -- hi"),
///     "SELECT * FROM t WHERE id IN (...) AND name = $1"
/// );
/// ```
#[must_use]
pub fn normalize_sql(sql: &str) -> String {
    normalize(sql).text
}

pub(crate) fn normalize(sql: &str) -> Normalized {
    let (tokens, max_param, has_params) = tokenize(sql);
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
    Normalized {
        text: out,
        has_params,
        is_select,
    }
}

/// If `tokens[start..]` is `( lit , lit , … )`, the index of the closing parenthesis.
fn literal_list_end(tokens: &[Token<'_>], start: usize) -> Option<usize> {
    if tokens.get(start)?.text != "(" {
        return None;
    }
    let mut i = start + 1;
    loop {
        let item = tokens.get(i)?;
        if !matches!(item.kind, Kind::Literal | Kind::Param) {
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

fn tokenize(sql: &str) -> (Vec<Token<'_>>, u32, bool) {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut max_param = 0u32;
    let mut has_params = false;
    let mut i = 0;
    let mut space = false;
    while i < bytes.len() {
        let c = bytes[i];
        // whitespace and comments fold into one space
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
            space = true;
            continue;
        }
        let start = i;
        let kind = match c {
            b'\'' => {
                i = skip_quoted(bytes, i, b'\'');
                Kind::Literal
            }
            b'"' | b'`' => {
                i = skip_quoted(bytes, i, c);
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
                } else if let Some(end) = dollar_quote_end(sql, i) {
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
                // E'..', B'..', X'..', N'..' string prefixes
                if i - start == 1
                    && bytes.get(i) == Some(&b'\'')
                    && matches!(c.to_ascii_lowercase(), b'e' | b'b' | b'x' | b'n')
                {
                    i = skip_quoted(bytes, i, b'\'');
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

/// Index just past the closing `quote` (doubled quotes and backslash escapes stay inside).
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote == b'\'' {
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
    use super::normalize;

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
        assert!(normalize("SELECT $1").has_params);
        assert!(!normalize("SELECT '$1'").has_params);
    }
}
