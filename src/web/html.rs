//! HTML built so that text is escaped by construction: [`Html::text`] escapes every value,
//! and markup comes only from `&'static str` literals in this crate ([`Html::raw`]). Stored
//! data (a client's name) can therefore never become markup. A stop-gap for maud (see
//! docs/web.md, "Templates"): same guarantee, no dependency for the first screens.

/// A page being built.
#[derive(Default)]
pub struct Html(String);

impl Html {
    pub fn new() -> Html {
        Html(String::with_capacity(4096))
    }

    /// Markup written in this crate (a literal, never data).
    pub fn raw(&mut self, markup: &'static str) -> &mut Html {
        self.0.push_str(markup);
        self
    }

    /// Text or an attribute value: `& < > " '` escaped.
    pub fn text(&mut self, s: &str) -> &mut Html {
        for c in s.chars() {
            match c {
                '&' => self.0.push_str("&amp;"),
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&#39;"),
                c => self.0.push(c),
            }
        }
        self
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        let mut h = super::Html::new();
        h.raw("<td>").text("<script>\"'&").raw("</td>");
        assert_eq!(h.into_string(), "<td>&lt;script&gt;&quot;&#39;&amp;</td>");
    }
}
