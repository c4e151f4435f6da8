//! Filling careid's sign-in form the way a browser does: the page's first form that
//! posts, its hidden `csrf` and `request` fields kept, the email and password typed in.

use crate::html;

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
pub(crate) fn sign_in_form(page: &str, email: &str, password: &str) -> Option<PostForm> {
    let form = html::forms(page).into_iter().find(|f| f.method == "post")?;
    let login = form.login_input()?.name.clone();
    let secret = form.password_input()?.name.clone();
    let fields = form.fields(&[(&login, email), (&secret, password)]);
    Some(PostForm {
        action: form.action,
        fields,
    })
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
}
