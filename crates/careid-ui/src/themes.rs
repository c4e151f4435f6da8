//! Themes: one folder per brand under the themes directory, each with `templates/` and
//! `static/`, and every file falling back on its own to `default/` (DESIGN.md). The one
//! loader with that fallback is `careid_mail::theme_files`, shared with the mail
//! templates (`email/`), which are `careid-mail`'s.
//!
//! A template is named `<theme>/<file>`, for example `crm/sign_in.html`. Inside a
//! template, a name without a theme (`{% extends "base.html" %}`) resolves within the
//! theme being rendered, with the same fallback, so a brand can replace one partial
//! (`brand.html`) and inherit everything else. A name with a theme (`"default/base.html"`)
//! is taken as it is, so a brand's `base.html` can extend the default one.
//!
//! Templates are read and compiled once, in [`Themes::new`], for every theme folder that
//! exists then, and kept for the life of the process: edits to a template, and new theme
//! folders, show after a restart. Rendering therefore never reads the disk on a runtime
//! thread. A theme that did not exist at start-up is shown as `default`.
//!
//! In development (`[themes] reload = true`, [`Themes::with_reload`]) every render
//! compiles its templates afresh from the disk instead, so an edited template shows on the
//! next page load. That reads files on a runtime thread, which is why it is off by default.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use axum::response::Html;
use careid_mail::theme_files::{self, is_safe_file, is_safe_name, is_safe_path};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context, value::Serde};
use serde::Serialize;

use crate::UiError;

pub use careid_mail::theme_files::DEFAULT_THEME;

/// The compiled templates of every theme, and where their static files are.
pub struct Themes {
    dir: PathBuf,
    names: BTreeSet<String>,
    env: Environment<'static>,
    reload: bool,
}

impl Themes {
    /// Loads and compiles every template of every theme under `themes_dir`. Fails if
    /// the folder or `default/templates/` cannot be read, or a template does not compile.
    pub fn new(themes_dir: PathBuf) -> Result<Self, UiError> {
        let names: BTreeSet<String> = list(&themes_dir, |path| path.is_dir())?
            .into_iter()
            .filter(|name| is_safe_name(name))
            .collect();
        let mut files = list(&templates_dir(&themes_dir, DEFAULT_THEME), Path::is_file)?;
        for theme in &names {
            let dir = templates_dir(&themes_dir, theme);
            if dir.is_dir() {
                files.extend(list(&dir, Path::is_file)?);
            }
        }

        let themes = Self {
            env: environment(&themes_dir),
            dir: themes_dir,
            names,
            reload: false,
        };
        for theme in &themes.names {
            for file in files.iter().filter(|file| is_safe_file(file)) {
                themes.env.get_template(&format!("{theme}/{file}"))?;
            }
        }
        Ok(themes)
    }

    /// With `reload`, every render reads and compiles its templates afresh
    /// (development only: see the module documentation).
    pub fn with_reload(mut self, reload: bool) -> Self {
        self.reload = reload;
        self
    }

    /// The themes found at start-up, `default` among them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// `theme` if it existed at start-up, else the default theme.
    pub fn resolve<'a>(&self, theme: &'a str) -> &'a str {
        if self.names.contains(theme) {
            theme
        } else {
            DEFAULT_THEME
        }
    }

    /// Renders `template` (e.g. `sign_in.html`) of `theme` with the variables in `ctx`,
    /// plus `theme`, the theme actually used.
    pub fn render(
        &self,
        theme: &str,
        template: &str,
        ctx: impl Serialize,
    ) -> Result<Html<String>, UiError> {
        let theme = self.resolve(theme);
        let fresh;
        let env = if self.reload {
            fresh = environment(&self.dir);
            &fresh
        } else {
            &self.env
        };
        let template = env.get_template(&format!("{theme}/{template}"))?;
        let ctx = context! { theme => theme, ..minijinja::Value::from(Serde(ctx)) };
        Ok(Html(template.render(ctx)?))
    }

    /// The static file `path` of `theme`, else of the default theme; `None` when neither
    /// has it or the path could leave the theme's `static/` folder.
    pub async fn read_static(&self, theme: &str, path: &str) -> Result<Option<Vec<u8>>, UiError> {
        if !is_safe_path(path) {
            return Ok(None);
        }
        for theme in [self.resolve(theme), DEFAULT_THEME] {
            let file = self.dir.join(theme).join("static").join(path);
            match tokio::fs::metadata(&file).await {
                Ok(meta) if meta.is_file() => {}
                _ => continue,
            }
            return match tokio::fs::read(&file).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) => Err(UiError::Internal(format!(
                    "reading {}: {err}",
                    file.display()
                ))),
            };
        }
        Ok(None)
    }
}

/// The page templates' environment: HTML-escaped, theme-relative names, files loaded
/// (once each) from `themes_dir` with the per-file fallback to `default/`.
fn environment(themes_dir: &Path) -> Environment<'static> {
    let mut env = Environment::new();
    // Every page is HTML; nothing a client or a person typed is ever trusted markup.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    let dir = themes_dir.to_path_buf();
    env.set_loader(move |name| theme_files::load(&dir, "templates", name));
    env.set_path_join_callback(theme_files::join_within_theme);
    env
}

fn templates_dir(themes_dir: &Path, theme: &str) -> PathBuf {
    themes_dir.join(theme).join("templates")
}

/// The names of the entries of `dir` that pass `keep`. Start-up only: it blocks.
fn list(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<String>, UiError> {
    let unreadable = |source| UiError::ThemesUnreadable {
        path: dir.display().to_string(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && keep(&path)
        {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A default theme and a brand that overrides only `brand.html` and one static file.
    fn fixture() -> (tempfile::TempDir, Themes) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "default/templates/brand.html", "careid");
        write(
            root,
            "default/templates/page.html",
            "[{% include \"brand.html\" %}] {{ who }}",
        );
        write(root, "default/static/app.css", "default css");
        write(root, "default/static/logo.svg", "default logo");
        write(root, "crm/templates/brand.html", "CarePortals CRM");
        write(root, "crm/static/app.css", "crm css");
        write(root, "secret.html", "do not serve");
        let themes = Themes::new(root.to_path_buf()).unwrap();
        (dir, themes)
    }

    #[test]
    fn a_brand_overrides_one_file_and_inherits_the_rest() {
        let (_dir, themes) = fixture();
        let crm = themes
            .render("crm", "page.html", context! { who => "Ada" })
            .unwrap();
        assert_eq!(crm.0, "[CarePortals CRM] Ada");
        let plain = themes
            .render("default", "page.html", context! { who => "Ada" })
            .unwrap();
        assert_eq!(plain.0, "[careid] Ada");
    }

    #[test]
    fn an_unknown_theme_is_shown_as_the_default() {
        let (_dir, themes) = fixture();
        let page = themes
            .render("nope", "page.html", context! { who => "Bo" })
            .unwrap();
        assert_eq!(page.0, "[careid] Bo");
        let page = themes
            .render("../crm", "page.html", context! { who => "Bo" })
            .unwrap();
        assert_eq!(page.0, "[careid] Bo");
    }

    #[test]
    fn values_are_html_escaped() {
        let (_dir, themes) = fixture();
        let page = themes
            .render("crm", "page.html", context! { who => "<b>" })
            .unwrap();
        assert_eq!(page.0, "[CarePortals CRM] &lt;b&gt;");
    }

    #[test]
    fn template_names_that_leave_the_themes_folder_are_refused() {
        let (_dir, themes) = fixture();
        for name in [
            "../secret.html",
            "../../secret.html",
            "/etc/passwd",
            "a/../page.html",
        ] {
            assert!(themes.render("default", name, ()).is_err(), "{name}");
        }
    }

    #[tokio::test]
    async fn static_files_fall_back_to_the_default_theme_per_file() {
        let (_dir, themes) = fixture();
        let css = themes.read_static("crm", "app.css").await.unwrap();
        assert_eq!(css.as_deref(), Some(&b"crm css"[..]));
        let logo = themes.read_static("crm", "logo.svg").await.unwrap();
        assert_eq!(logo.as_deref(), Some(&b"default logo"[..]));
        assert_eq!(
            themes.read_static("crm", "missing.css").await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn static_paths_that_leave_the_static_folder_are_refused() {
        let (_dir, themes) = fixture();
        for path in [
            "../templates/brand.html",
            "../../secret.html",
            "/etc/passwd",
            "a//b",
            ".env",
            "a\\b",
            "",
        ] {
            assert_eq!(
                themes.read_static("crm", path).await.unwrap(),
                None,
                "{path}"
            );
        }
    }

    #[test]
    fn with_reload_an_edited_template_shows_on_the_next_render_and_without_it_not() {
        let (dir, themes) = fixture();
        let reloading = Themes::new(dir.path().to_path_buf())
            .unwrap()
            .with_reload(true);
        write(dir.path(), "crm/templates/brand.html", "CarePortals CRM 2");
        let page = |themes: &Themes| {
            themes
                .render("crm", "page.html", context! { who => "Ada" })
                .unwrap()
                .0
        };
        assert_eq!(page(&reloading), "[CarePortals CRM 2] Ada");
        assert_eq!(page(&themes), "[CarePortals CRM] Ada");
    }

    #[test]
    fn a_themes_folder_without_a_default_theme_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Themes::new(dir.path().to_path_buf()),
            Err(UiError::ThemesUnreadable { .. })
        ));
    }
}
