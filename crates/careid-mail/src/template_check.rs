//! The syntax check of every template of every theme, pages (`templates/`) and mail
//! (`email/`) alike: `careid config check` and start-up run it, so a broken template is
//! named with its file and line before anyone can be shown a blank page or sent a blank
//! message. Each file is compiled on its own, under its real path, which is what the
//! problem names; whether the templates fit together (`extends`, `include`, variables)
//! is checked by compiling and rendering them, in `careid-ui` and [`crate::Renderer`].

use std::{
    fmt,
    path::{Path, PathBuf},
};

use minijinja::Environment;

use crate::theme_files::{is_safe_file, is_safe_name};

/// A template that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// The file.
    pub path: PathBuf,
    /// The line of the problem, when minijinja knows it.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// The folders of a theme that hold templates.
const TEMPLATE_FOLDERS: [&str; 2] = ["templates", "email"];

/// Compiles every template file of every theme under `themes_dir`; returns the problems,
/// in path order. Start-up only: it reads the disk.
pub fn check_syntax(themes_dir: &Path) -> Vec<TemplateProblem> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    // Only what the loaders would read: an editor's swap or backup file (`.page.html.swp`,
    // `page.html~`) or a `.git` folder is not a template, and must not stop careid.
    let themes = sorted_entries(themes_dir, &mut problems)
        .into_iter()
        .filter(|theme| theme.is_dir() && file_name(theme).is_some_and(is_safe_name));
    for theme in themes {
        for folder in TEMPLATE_FOLDERS {
            let dir = theme.join(folder);
            if dir.is_dir() {
                files.extend(
                    sorted_entries(&dir, &mut problems)
                        .into_iter()
                        .filter(|p| p.is_file() && file_name(p).is_some_and(is_safe_file)),
                );
            }
        }
    }
    let env = Environment::new();
    for path in files {
        let source = match std::fs::read_to_string(&path) {
            Ok(source) => source,
            Err(err) => {
                problems.push(TemplateProblem {
                    path,
                    line: None,
                    message: format!("cannot read: {err}"),
                });
                continue;
            }
        };
        let name = path.display().to_string();
        if let Err(err) = env.template_from_named_str(&name, &source) {
            problems.push(TemplateProblem {
                line: err.line(),
                message: match err.detail() {
                    Some(detail) => format!("{}: {detail}", err.kind()),
                    None => err.kind().to_string(),
                },
                path,
            });
        }
    }
    problems
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()
}

fn sorted_entries(dir: &Path, problems: &mut Vec<TemplateProblem>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths: Vec<PathBuf> =
                entries.filter_map(Result::ok).map(|e| e.path()).collect();
            paths.sort();
            paths
        }
        Err(err) => {
            problems.push(TemplateProblem {
                path: dir.to_path_buf(),
                line: None,
                message: format!("cannot read: {err}"),
            });
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::write_file as write;

    #[test]
    fn a_syntax_error_is_named_by_file_and_line_in_pages_and_mail() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "default/templates/ok.html", "{{ a }}");
        write(
            root,
            "crm/templates/page.html",
            "line one\nline two\n{% if x %}\nno end",
        );
        write(root, "crm/email/invitation.txt", "Hello\n{{ name }");
        let problems = check_syntax(root);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{shown:?}");
        assert!(shown[0].ends_with("crm/templates/page.html:3: syntax error: unexpected end of input, expected end of block"), "{shown:?}");
        assert!(
            problems[1].path.ends_with("crm/email/invitation.txt"),
            "{shown:?}"
        );
        assert_eq!(problems[1].line, Some(2), "{shown:?}");
    }

    #[test]
    fn editor_leftovers_and_hidden_folders_are_not_templates() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "crm/templates/page.html", "{{ a }}");
        // A swap file is not UTF-8; a backup holds a half-made edit.
        let swap = root.join("crm/templates/.page.html.swp");
        std::fs::write(&swap, [0xff, 0xfe, 0x00, b'{', b'%']).unwrap();
        write(root, "crm/templates/page.html~", "{% if x %}");
        write(root, "crm/email/invitation.txt~", "{{ name }");
        write(root, ".git/templates/broken.html", "{% if %}");
        assert_eq!(check_syntax(root), Vec::new());

        // The same mistake under a template's own name is still found.
        write(root, "crm/templates/other.html", "{% if x %}");
        let problems = check_syntax(root);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].path.ends_with("crm/templates/other.html"));
    }

    #[test]
    fn the_shipped_themes_compile() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../themes");
        assert_eq!(check_syntax(&dir), Vec::new());
    }
}
