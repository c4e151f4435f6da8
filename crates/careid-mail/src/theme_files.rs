//! Reading theme files, for pages and mail alike (DESIGN.md: "a theme falls back to
//! default/ per file"). A themes folder holds `default/` and one folder per brand; each
//! has sub-folders by use (`templates/` for pages, `email/` for mail, `static/`). A
//! template is named `<theme>/<file>`; it is read from the theme's folder, else from the
//! default theme's. A name without a theme, used inside a template, resolves within the
//! theme being rendered, so a brand can replace one partial and inherit the rest.
//!
//! `careid-ui` compiles its page templates through this module, and `Renderer` its mail
//! templates; only the sub-folder differs. Names are checked so that none can leave the
//! themes folder.

use std::{borrow::Cow, path::Path};

use minijinja::ErrorKind;

/// The theme every other theme falls back to, file by file.
pub const DEFAULT_THEME: &str = "default";

/// Loads template `name` (`<theme>/<file>`) from `<themes_dir>/<theme>/<folder>/`, else
/// from the default theme's `<folder>/`. `None` when neither has it; an error when the
/// name could leave its folder or a file exists but cannot be read. A minijinja loader:
/// it reads the disk, so it runs when templates are compiled (at start-up).
pub fn load(
    themes_dir: &Path,
    folder: &str,
    name: &str,
) -> Result<Option<String>, minijinja::Error> {
    let Some((theme, file)) = name.split_once('/') else {
        return Ok(None);
    };
    if !is_safe_name(theme) || !is_safe_file(file) {
        let why = format!("template name {name:?} is not <theme>/<file>");
        return Err(minijinja::Error::new(ErrorKind::InvalidOperation, why));
    }
    for theme in [theme, DEFAULT_THEME] {
        let path = themes_dir.join(theme).join(folder).join(file);
        match std::fs::read_to_string(&path) {
            Ok(source) => return Ok(Some(source)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                let what = format!("could not read {}", path.display());
                return Err(
                    minijinja::Error::new(ErrorKind::InvalidOperation, what).with_source(err)
                );
            }
        }
    }
    Ok(None)
}

/// Resolves a theme-less template name against the theme of the template naming it: a
/// minijinja path-join callback.
pub fn join_within_theme<'s>(name: &'s str, parent: &'s str) -> Cow<'s, str> {
    match parent.split_once('/') {
        Some((theme, _)) if !name.contains('/') => Cow::Owned(format!("{theme}/{name}")),
        _ => Cow::Borrowed(name),
    }
}

/// A theme (or message) name: letters, digits, `-` and `_`.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A template file name: one path segment, see [`is_safe_path`].
pub fn is_safe_file(file: &str) -> bool {
    !file.contains('/') && is_safe_path(file)
}

/// A relative path that cannot leave its folder: `/`-separated segments of letters,
/// digits, `-`, `_` and `.`, none empty and none starting with a dot (so no `..`, no
/// hidden files, no absolute path, no backslash or drive letter).
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::write_file as write;

    #[test]
    fn each_file_falls_back_to_the_default_theme_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "default/email/a.txt", "default a");
        write(root, "default/email/b.txt", "default b");
        write(root, "crm/email/a.txt", "crm a");
        write(root, "crm/templates/b.txt", "a page, not mail");
        let read = |name| load(root, "email", name).unwrap();
        assert_eq!(read("crm/a.txt").as_deref(), Some("crm a"));
        assert_eq!(read("crm/b.txt").as_deref(), Some("default b"));
        assert_eq!(read("nope/a.txt").as_deref(), Some("default a"));
        assert_eq!(read("crm/c.txt"), None);
        assert_eq!(read("a.txt"), None, "a name without a theme");
    }

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for name in [
            "default/../../etc/passwd",
            "../default/a.txt",
            "default/.env",
            "default/a/b.txt",
            "default/",
        ] {
            assert!(load(Path::new("/"), "email", name).is_err(), "{name}");
        }
    }

    #[test]
    fn a_theme_less_name_resolves_within_the_parents_theme() {
        assert_eq!(
            join_within_theme("base.html", "crm/page.html"),
            "crm/base.html"
        );
        assert_eq!(
            join_within_theme("default/base.html", "crm/base.html"),
            "default/base.html"
        );
    }
}
