//! The demo's HTML: one small layout and escaping. Plain strings keep the demo a few
//! hundred lines; careid's own pages are the themed ones.

use axum::response::Html;

/// `text` escaped for HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title`, the product name in the header, `body` as given (already HTML).
pub(crate) fn page(title: &str, product: &str, body: &str) -> Html<String> {
    let title = escape(title);
    let product = escape(product);
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {product}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #f6f7f9; line-height: 1.5; }}
header {{ background: #1d3557; color: #fff; padding: 0.75rem 1rem; }}
header p {{ margin: 0; font-weight: 600; }}
main {{ max-width: 46rem; margin: 0 auto; padding: 1rem; }}
pre {{ background: #fff; border: 1px solid #c9ced6; padding: 0.75rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }}
.button, button {{ display: inline-block; font: inherit; padding: 0.5rem 1rem; border-radius: 4px; border: 1px solid #1d3557; background: #1d3557; color: #fff; text-decoration: none; cursor: pointer; margin: 0 0.5rem 0.5rem 0; }}
.secondary {{ background: #fff; color: #1d3557; }}
a:focus, button:focus {{ outline: 3px solid #e76f51; outline-offset: 2px; }}
form {{ display: inline; }}
</style>
</head>
<body>
<header><p>{product} <small>(demo)</small></p></header>
<main>
{body}
</main>
</body>
</html>
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
