//! Colours for the human rendering, or none: one switch decided by the `Ui` (TTY,
//! `NO_COLOR`, `--color`), so renderers never look at the terminal themselves.

use owo_colors::OwoColorize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    pub fn new(enabled: bool) -> Paint {
        Paint { enabled }
    }

    pub fn enabled(self) -> bool {
        self.enabled
    }

    pub fn green(self, text: &str) -> String {
        self.apply(text, |t| t.green().to_string())
    }

    pub fn yellow(self, text: &str) -> String {
        self.apply(text, |t| t.yellow().to_string())
    }

    pub fn red(self, text: &str) -> String {
        self.apply(text, |t| t.red().to_string())
    }

    pub fn cyan(self, text: &str) -> String {
        self.apply(text, |t| t.cyan().to_string())
    }

    pub fn bold(self, text: &str) -> String {
        self.apply(text, |t| t.bold().to_string())
    }

    pub fn dim(self, text: &str) -> String {
        self.apply(text, |t| t.dimmed().to_string())
    }

    fn apply(self, text: &str, paint: impl Fn(&str) -> String) -> String {
        if self.enabled {
            paint(text)
        } else {
            text.to_owned()
        }
    }
}
