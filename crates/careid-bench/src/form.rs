//! Reading careid's sign-in page the way a browser does: find the form that posts, its
//! action and its inputs (the hidden `csrf` and `request` fields included), and fill in
//! the email and password. Deliberately small: attributes in any order, either quote
//! style, the entities a template engine writes inside attribute values.

/// An `<input>` (or named `<button>`) of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Input {
    name: String,
    kind: String,
    value: String,
}

/// A form that posts: where to and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PostForm {
    /// The `action` attribute, relative to the page's URL.
    pub(crate) action: String,
    /// Every named field with its value, in page order.
    pub(crate) fields: Vec<(String, String)>,
}

/// The page's first form that posts, with the email (`type=email`, or named `email` or
/// `username`) and the password (`type=password`) filled in. `None` when the page has no
/// such form, e.g. an error page.
pub(crate) fn sign_in_form(html: &str, email: &str, password: &str) -> Option<PostForm> {
    let (action, inputs) = first_post_form(html)?;
    let login = inputs
        .iter()
        .position(|i| i.kind == "email" || i.name == "email" || i.name == "username")?;
    let secret = inputs.iter().position(|i| i.kind == "password")?;
    let fields = inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.name.is_empty() && i.kind != "submit")
        .map(|(at, i)| {
            let value = if at == login {
                email.to_owned()
            } else if at == secret {
                password.to_owned()
            } else {
                i.value.clone()
            };
            (i.name.clone(), value)
        })
        .collect();
    Some(PostForm { action, fields })
}

/// The action and inputs of the first `<form method="post">`.
fn first_post_form(html: &str) -> Option<(String, Vec<Input>)> {
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| i + at) {
        let tag_end = lower[start..].find('>').map_or(html.len(), |i| i + start);
        let end = lower[tag_end..]
            .find("</form>")
            .map_or(html.len(), |i| i + tag_end);
        let tag = &html[start..tag_end];
        let is_post = attr(tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post"));
        if is_post {
            let mut inputs = elements(&html[tag_end..end], "<input", false);
            inputs.extend(elements(&html[tag_end..end], "<button", true));
            return Some((attr(tag, "action").unwrap_or_default(), inputs));
        }
        at = end;
    }
    None
}

/// The elements opening with `open` inside a form's body. Buttons count only when named.
fn elements(body: &str, open: &str, named_only: bool) -> Vec<Input> {
    let lower = body.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = lower[pos..].find(open).map(|i| i + pos) {
        let close = lower[i..].find('>').map_or(body.len(), |j| j + i);
        let tag = &body[i..close];
        let name = attr(tag, "name");
        if !named_only || name.is_some() {
            out.push(Input {
                name: name.unwrap_or_default(),
                kind: attr(tag, "type")
                    .unwrap_or_else(|| if named_only { "button" } else { "text" }.into())
                    .to_ascii_lowercase(),
                value: attr(tag, "value").unwrap_or_default(),
            });
        }
        pos = close;
    }
    out
}

/// An attribute's value in a tag, entities decoded; `Some("")` for a bare attribute.
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| i + from) {
        let starts_word = i > 0 && lower.as_bytes()[i - 1].is_ascii_whitespace();
        let rest = tag[i + name.len()..].trim_start();
        if starts_word {
            if let Some(rest) = rest.strip_prefix('=') {
                let rest = rest.trim_start();
                let value = match rest.chars().next() {
                    Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
                    _ => rest
                        .split(|c: char| c.is_whitespace() || c == '>')
                        .next()
                        .unwrap_or_default(),
                };
                return Some(decode(value));
            }
            if rest.is_empty() || rest.starts_with(char::is_whitespace) || rest.starts_with('/') {
                return Some(String::new());
            }
        }
        from = i + name.len();
    }
    None
}

/// The entities minijinja's HTML escaping writes, and `&amp;` last so it decodes once.
fn decode(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_IN: &str = r#"<form method="get" action="/search"><input name="q"></form>
        <FORM class="form" action="/sign-in" method=POST>
          <input type="hidden" name="csrf" value="c&amp;s&#x2f;rf">
          <input value='r1' type=hidden name="request">
          <input type="email" id="email" name="email" value="" required autofocus>
          <input type="password" id="password" name="password" required>
          <button type="submit" class="button">Sign in</button>
        </form>"#;

    #[test]
    fn the_sign_in_form_is_filled_with_its_hidden_fields_kept() {
        let form = sign_in_form(SIGN_IN, "bench-1@careid.local", "pw").unwrap();
        assert_eq!(form.action, "/sign-in");
        assert_eq!(
            form.fields,
            [
                ("csrf", "c&s/rf"),
                ("request", "r1"),
                ("email", "bench-1@careid.local"),
                ("password", "pw"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn a_named_button_is_posted_with_its_value() {
        let page = r#"<form method="post" action="/x"><input name="username">
            <input type="password" name="pw"><button name="go" value="1">Go</button></form>"#;
        let form = sign_in_form(page, "a@b", "s").unwrap();
        assert_eq!(
            form.fields,
            [("username", "a@b"), ("pw", "s"), ("go", "1")]
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn a_page_without_a_password_form_has_no_sign_in_form() {
        assert_eq!(
            sign_in_form("<h1>Something went wrong</h1>", "a", "b"),
            None
        );
        let no_password = r#"<form method="post" action="/x"><input name="email"></form>"#;
        assert_eq!(sign_in_form(no_password, "a", "b"), None);
    }

    #[test]
    fn an_attribute_name_inside_another_is_not_mistaken_for_it() {
        assert_eq!(
            attr(r#"<input data-name="x" name="y""#, "name").as_deref(),
            Some("y")
        );
        assert_eq!(attr("<input required", "required").as_deref(), Some(""));
        assert_eq!(attr("<input type=email>", "type").as_deref(), Some("email"));
    }
}
