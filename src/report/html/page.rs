//! HTML building blocks of report.html: escaping, tables, sections, the stylesheet.

use std::fmt::Write;

use serde_json::Value;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a table shows it: 4 significant decimals, "null" for None.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "null".into(),
        Some(x) if x == x.trunc() && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 1000.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.4}"),
    }
}

/// A fraction as a percent with 2 decimals.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "null".into(), |x| format!("{:.2}%", 100.0 * x))
}

/// A table: header cells, then rows of already-escaped HTML cells.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A section with an anchor, a title and a body.
pub fn section(id: &str, title: &str, body: &str) -> String {
    format!(
        "<section id=\"{}\"><h2>{}</h2>{body}</section>\n",
        esc(id),
        esc(title)
    )
}

/// The sentence a section shows when its data is not in the run.
pub fn absent(what: &str) -> String {
    format!("<p class=\"absent\">not in this run: {}</p>", esc(what))
}

/// A status badge.
pub fn badge(ok: bool, yes: &str, no: &str) -> String {
    if ok {
        format!("<span class=\"badge ok\">{}</span>", esc(yes))
    } else {
        format!("<span class=\"badge bad\">{}</span>", esc(no))
    }
}

/// A JSON value flattened into (dotted key, value) rows, for sections whose
/// shape other parts of chloe own (costs, hedge).
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            out.push((prefix.to_string(), items.join(", ")));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

/// A JSON scalar as text.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Number(n) => num(n.as_f64()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The page's stylesheet (inline: the page loads nothing).
pub const CSS: &str = r#"
:root { --ink:#282c34; --muted:#6b7280; --line:#e3e5ea; --ok:#2e9650; --bad:#c82828; --warn:#d68c00; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:var(--ink); background:var(--bg); font-size:14px; line-height:1.45; }
header { background:#1f2937; color:#fff; padding:18px 28px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header .sub { color:#cbd5e1; margin-top:4px; font-size:13px; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:8px 28px; position:sticky; top:0; z-index:2; }
nav a { color:#1f4e91; text-decoration:none; margin-right:16px; font-size:13px; }
main { max-width:1240px; margin:0 auto; padding:16px 28px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:16px 0; }
h2 { margin:0 0 12px; font-size:18px; }
h3 { margin:14px 0 8px; font-size:15px; }
.verdict { display:flex; align-items:center; gap:18px; flex-wrap:wrap; }
.verdict .big { font-size:28px; font-weight:700; padding:8px 20px; border-radius:8px; color:#fff; }
.verdict .pass { background:var(--ok); } .verdict .fail { background:var(--bad); } .verdict .none { background:var(--muted); }
.tiles { display:grid; grid-template-columns:repeat(auto-fill,minmax(165px,1fr)); gap:10px; margin:14px 0 4px; }
.tile { border:1px solid var(--line); border-radius:6px; padding:8px 12px; }
.tile .k { color:var(--muted); font-size:12px; } .tile .v { font-size:20px; font-weight:600; }
table { border-collapse:collapse; width:100%; margin:6px 0 10px; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:5px 8px; text-align:left; vertical-align:top; }
th { background:#f1f3f6; font-weight:600; }
td.n { text-align:right; font-variant-numeric: tabular-nums; }
td:first-child { white-space:nowrap; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; }
.badge.ok { background:var(--ok); } .badge.bad { background:var(--bad); } .badge.warn { background:var(--warn); } .badge.skip { background:var(--muted); }
.grid2 { display:grid; grid-template-columns:repeat(auto-fit,minmax(540px,1fr)); gap:10px; }
svg { max-width:100%; height:auto; display:block; }
.absent { color:var(--muted); font-style:italic; }
.note { color:var(--muted); font-size:12px; margin:4px 0 10px; }
.key span { display:inline-block; margin-right:14px; font-size:12px; }
.key i { display:inline-block; width:14px; height:10px; margin-right:5px; vertical-align:middle; border:1px solid #ccc; }
details summary { cursor:pointer; color:#1f4e91; }
code { font-size:12px; word-break:break-all; }
"#;
