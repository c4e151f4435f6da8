//! Loading and checking the themes at start-up and in `careid config check`: every
//! template of every theme must compile (a syntax error is named by file and line), the
//! page templates must fit together, and every message must render in every theme, so a
//! broken template stops careid before anyone is shown a blank page.

use anyhow::bail;
use careid_mail::{Renderer, template_check};
use careid_ui::Themes;

use crate::Config;

/// Every problem with the themes under the configured `themes_dir`, one line each.
pub(crate) fn problems(config: &Config) -> Vec<String> {
    let problems = syntax_problems(config);
    if !problems.is_empty() {
        return problems;
    }
    let themes = match Themes::new(config.themes_dir.clone()) {
        Ok(themes) => themes,
        Err(err) => return vec![format!("{}: {err}", config.themes_dir.display())],
    };
    let renderer = Renderer::new(config.themes_dir.clone());
    themes
        .names()
        .filter_map(|theme| {
            renderer.check_theme(theme).err().map(|err| {
                format!(
                    "{}: mail of theme {theme}: {err}",
                    config.themes_dir.display()
                )
            })
        })
        .collect()
}

/// The page templates, checked and compiled, reloading on change if `[themes] reload`.
pub(crate) fn load(config: &Config) -> anyhow::Result<Themes> {
    let problems = syntax_problems(config);
    if !problems.is_empty() {
        bail!("broken templates:\n  {}", problems.join("\n  "));
    }
    let themes = Themes::new(config.themes_dir.clone()).map_err(|err| {
        anyhow::anyhow!("loading themes from {}: {err}", config.themes_dir.display())
    })?;
    Ok(themes.with_reload(config.themes.reload))
}

/// Renders every message of every theme with sample values.
pub(crate) fn check_mail(renderer: &Renderer, themes: &Themes) -> anyhow::Result<()> {
    for theme in themes.names() {
        if let Err(err) = renderer.check_theme(theme) {
            bail!("checking the mail templates of theme {theme}: {err}");
        }
    }
    Ok(())
}

/// Each template file that does not compile, as `path:line: problem`.
fn syntax_problems(config: &Config) -> Vec<String> {
    template_check::check_syntax(&config.themes_dir)
        .iter()
        .map(ToString::to_string)
        .collect()
}
