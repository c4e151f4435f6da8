//! Reading careid's HTML the way an independent client would: find the forms, their
//! action, method and inputs. Deliberately small: attributes in any order, either quote
//! style, the entities a template engine writes inside attribute values. Shared by the
//! bench's sign-ins and the end-to-end tests' browser.

/// An `<input>` (or named `<button>`) of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The `name` attribute (empty when absent).
    pub name: String,
    /// The `type`, lower-cased (`button` for a button).
    pub kind: String,
    /// The `value` attribute, entities decoded.
    pub value: String,
}

/// A form: where it posts and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The `action` attribute, relative to the page's URL.
    pub action: String,
    /// The `method`, lower-cased (`get` when absent).
    pub method: String,
    /// Inputs, then named buttons, in page order.
    pub inputs: Vec<Input>,
}

impl Form {
    /// The fields to post: every input with a name, `fill` overriding values by name.
    pub fn fields(&self, fill: &[(&str, &str)]) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|i| !i.name.is_empty() && i.kind != "submit")
            .map(|i| {
                let value = fill
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map_or(i.value.clone(), |(_, v)| (*v).to_owned());
                (i.name.clone(), value)
            })
            .collect()
    }

    /// The input that takes the email or username.
    pub fn login_input(&self) -> Option<&Input> {
        self.inputs
            .iter()
            .find(|i| i.kind == "email" || i.name == "email" || i.name == "username")
    }

    /// The password input.
    pub fn password_input(&self) -> Option<&Input> {
        self.inputs.iter().find(|i| i.kind == "password")
    }
}

/// Every form in the page, in order.
pub fn forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| i + at) {
        let end = lower[start..]
            .find("</form>")
            .map_or(html.len(), |i| i + start);
        let tag_end = lower[start..].find('>').map_or(end, |i| i + start);
        let tag = &html[start..tag_end];
        let body = &html[tag_end..end];
        let lower_body = &lower[tag_end..end];
        let mut inputs = Vec::new();
        let mut pos = 0;
        while let Some(i) = lower_body[pos..].find("<input").map(|i| i + pos) {
            let close = lower_body[i..].find('>').map_or(body.len(), |j| j + i);
            let input = &body[i..close];
            inputs.push(Input {
                name: attr(input, "name").unwrap_or_default(),
                kind: attr(input, "type")
                    .unwrap_or_else(|| "text".into())
                    .to_ascii_lowercase(),
                value: attr(input, "value").unwrap_or_default(),
            });
            pos = close;
        }
        let mut p = 0;
        while let Some(i) = lower_body[p..].find("<button").map(|i| i + p) {
            let close = lower_body[i..].find('>').map_or(body.len(), |j| j + i);
            let button = &body[i..close];
            if let Some(name) = attr(button, "name") {
                inputs.push(Input {
                    name,
                    kind: "button".into(),
                    value: attr(button, "value").unwrap_or_default(),
                });
            }
            p = close;
        }
        out.push(Form {
            action: attr(tag, "action").unwrap_or_default(),
            method: attr(tag, "method")
                .unwrap_or_else(|| "get".into())
                .to_ascii_lowercase(),
            inputs,
        });
        at = end;
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

    #[test]
    fn a_form_is_read_with_attributes_in_any_order() {
        let page = r#"<p>x</p><FORM method="post" action="/sign-in"><input value='abc' type=hidden name="csrf">
            <input name="email" type="email" required><input type="password" name="password">
            <button type="submit">Sign in</button></form>"#;
        let form = &forms(page)[0];
        assert_eq!(form.action, "/sign-in");
        assert_eq!(form.method, "post");
        assert_eq!(form.inputs[0].value, "abc");
        assert_eq!(form.login_input().unwrap().name, "email");
        assert_eq!(form.password_input().unwrap().name, "password");
        assert_eq!(
            form.fields(&[("email", "a@b")]),
            vec![
                ("csrf".to_owned(), "abc".to_owned()),
                ("email".to_owned(), "a@b".to_owned()),
                ("password".to_owned(), String::new()),
            ]
        );
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
