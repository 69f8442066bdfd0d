//! The HTML report: one self-contained file (inline CSS, inline SVG, no script, nothing
//! fetched) for a supervisor who is not technical: a summary first, then the findings, then
//! charts of disclosures per month and per recipient.

use crate::audit::{Figures, Report, Severity};
use crate::domain::time::format_time;
use crate::i18n::{lang, Lang};
use crate::tr;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// One sentence saying how the audit went.
pub fn verdict(r: &Report) -> String {
    if r.incomplete() {
        tr!("audit.verdict.incomplete")
    } else if r.findings.is_empty() {
        tr!("audit.verdict.clean")
    } else {
        tr!(
            "audit.verdict.findings",
            count = r.findings.len(),
            worst = r.worst().map(|w| w.label()).unwrap_or_default()
        )
    }
}

/// The key figures as (label, value) rows.
pub fn figure_rows(f: &Figures) -> Vec<(String, u64)> {
    vec![
        (tr!("audit.fig.clients"), f.clients),
        (tr!("audit.fig.cases"), f.cases),
        (tr!("audit.fig.cases_closed"), f.cases_closed),
        (tr!("audit.fig.records"), f.records),
        (tr!("audit.fig.log_entries"), f.log_entries),
        (tr!("audit.fig.disclosures"), f.disclosures),
        (tr!("audit.fig.tier3_reads"), f.tier3_reads),
        (tr!("audit.fig.staff_active"), f.staff_active),
        (tr!("audit.fig.staff_departed"), f.staff_departed),
        (tr!("audit.fig.key_wrappings"), f.key_wrappings),
    ]
}

fn sev_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b3261e",
        Severity::High => "#d9480f",
        Severity::Medium => "#b08800",
        Severity::Low => "#5c6b7a",
    }
}

const CSS: &str = "
body{font-family:'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif;
 margin:0;background:#f4f6f8;color:#1d2733;line-height:1.5}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:28px;margin:0 0 4px}h2{font-size:22px;margin:32px 0 12px;border-bottom:2px solid #d0d7de;padding-bottom:4px}
.meta{color:#5c6b7a;margin:0 0 16px}
.verdict{font-size:22px;font-weight:bold;padding:18px 22px;border-radius:8px;color:#fff;margin:16px 0}
.ok{background:#2e7d32}.bad{background:#b3261e}.warn{background:#b08800}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:150px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .n{font-size:28px;font-weight:bold}.card .l{color:#5c6b7a;font-size:14px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e3e8ee;vertical-align:top;font-size:15px}
th{background:#eef2f6}
.sev{display:inline-block;color:#fff;border-radius:4px;padding:1px 8px;font-size:13px;white-space:nowrap}
.where{color:#3d4b59;font-size:13px}
code{font-size:13px;background:#eef2f6;padding:1px 4px;border-radius:3px}
.chart{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.empty{color:#5c6b7a}
";

pub fn html(r: &Report) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let lang_attr = match lang() {
        Lang::Zh => "zh-CN",
        Lang::En => "en",
    };
    let title = tr!("audit.title", agency = r.agency);
    s.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{lang_attr}\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body><main>\n",
        esc(&title)
    ));
    s.push_str(&format!("<h1>{}</h1>\n", esc(&title)));
    s.push_str(&format!(
        "<p class=\"meta\">{}",
        esc(&tr!(
            "audit.meta",
            time = format_time(r.generated_at),
            auditor = r.auditor,
            role = super::role_label(r)
        ))
    ));
    if let Some(since) = &r.since {
        s.push_str(&format!(" · {}", esc(&tr!("audit.since", date = since))));
    }
    s.push_str("</p>\n");

    // 1. Summary.
    s.push_str(&format!(
        "<section id=\"summary\"><h2>{}</h2>\n",
        esc(&tr!("audit.h.summary"))
    ));
    let class = if r.incomplete() {
        "warn"
    } else if r.findings.is_empty() {
        "ok"
    } else {
        "bad"
    };
    s.push_str(&format!(
        "<div class=\"verdict {class}\" id=\"verdict\">{}</div>\n<div class=\"cards\">",
        esc(&verdict(r))
    ));
    for (sev, n) in r.counts().into_iter().rev() {
        s.push_str(&format!(
            "<div class=\"card\" data-severity=\"{}\"><div class=\"n\" style=\"color:{}\">{n}</div><div class=\"l\">{}</div></div>",
            sev.as_str(),
            if n > 0 { sev_color(sev) } else { "#1d2733" },
            esc(&sev.label())
        ));
    }
    s.push_str("</div>\n<div class=\"cards\" style=\"margin-top:12px\">");
    for (k, v) in figure_rows(&r.figures) {
        s.push_str(&format!(
            "<div class=\"card\"><div class=\"n\">{v}</div><div class=\"l\">{}</div></div>",
            esc(&k)
        ));
    }
    s.push_str("</div>\n");
    s.push_str(&format!(
        "<h3>{}</h3><table><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(&tr!("audit.h.checks")),
        esc(&tr!("audit.col.title")),
        esc(&tr!("audit.col.state")),
        esc(&tr!("audit.col.findings"))
    ));
    for c in &r.checks {
        s.push_str(&format!(
            "<tr><td>{} <code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&c.title),
            esc(c.id),
            esc(&super::md::state_text(&c.state)),
            c.findings
        ));
    }
    s.push_str("</table></section>\n");

    // 2. Findings.
    s.push_str(&format!(
        "<section id=\"findings\"><h2>{}</h2>\n",
        esc(&tr!("audit.h.findings"))
    ));
    if r.findings.is_empty() {
        s.push_str(&format!(
            "<p class=\"empty\">{}</p>",
            esc(&tr!("audit.none"))
        ));
    } else {
        s.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            esc(&tr!("audit.col.severity")),
            esc(&tr!("audit.col.what")),
            esc(&tr!("audit.col.where")),
            esc(&tr!("audit.col.fix"))
        ));
        for f in &r.findings {
            s.push_str(&format!(
                "<tr class=\"finding\" data-check=\"{}\"><td><span class=\"sev\" style=\"background:{}\">{}</span></td>\
                 <td>{}<br><code>{}</code></td><td class=\"where\">{}</td><td>{}</td></tr>\n",
                esc(f.check),
                sev_color(f.severity),
                esc(&f.severity.label()),
                esc(&f.what),
                esc(f.check),
                esc(&f.location.join(", ")),
                esc(&f.fix)
            ));
        }
        s.push_str("</table>");
    }
    s.push_str("</section>\n");

    // 3. Charts.
    s.push_str(&format!(
        "<section id=\"charts\"><h2>{}</h2><div class=\"chart\">{}</div>\n",
        esc(&tr!("audit.h.by_month")),
        month_chart(&r.disclosures_by_month)
    ));
    s.push_str(&format!(
        "<h2>{}</h2><div class=\"chart\">{}</div></section>\n",
        esc(&tr!("audit.h.by_recipient")),
        recipient_chart(&r.disclosures_by_recipient)
    ));
    s.push_str(&format!(
        "<p class=\"meta\">{}</p></main></body></html>\n",
        esc(&tr!("audit.footer", vault = r.vault_id))
    ));
    s
}

/// Vertical bars, one per month, with the count above each bar.
fn month_chart(rows: &[(String, u64)]) -> String {
    if rows.is_empty() {
        return format!(
            "<p class=\"empty\">{}</p>",
            esc(&tr!("audit.no_disclosures"))
        );
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let (w, h, pad, base) = (1040.0_f64, 300.0_f64, 40.0_f64, 250.0_f64);
    let step = (w - pad * 2.0) / rows.len() as f64;
    let bar = (step * 0.7).max(2.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(&tr!("audit.h.by_month"))
    );
    s.push_str(&format!(
        "<line x1=\"{pad}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#8a99a8\"/>",
        w - pad
    ));
    let label_every = (rows.len() / 24).max(1);
    for (i, (m, n)) in rows.iter().enumerate() {
        let bh = (*n as f64 / max) * (base - 30.0);
        let x = pad + i as f64 * step + (step - bar) / 2.0;
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"#1f6feb\"><title>{} {n}</title></rect>",
            base - bh,
            esc(m)
        ));
        if rows.len() <= 36 {
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1d2733\">{n}</text>",
                x + bar / 2.0,
                base - bh - 4.0
            ));
        }
        if i % label_every == 0 {
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#3d4b59\">{}</text>",
                x + bar / 2.0,
                base + 18.0,
                esc(m)
            ));
        }
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one per recipient (the top 20, the rest summed).
fn recipient_chart(rows: &[(String, u64)]) -> String {
    if rows.is_empty() {
        return format!(
            "<p class=\"empty\">{}</p>",
            esc(&tr!("audit.no_disclosures"))
        );
    }
    let mut rows: Vec<(String, u64)> = rows.to_vec();
    if rows.len() > 20 {
        let rest: u64 = rows[19..].iter().map(|r| r.1).sum();
        rows.truncate(19);
        rows.push((tr!("audit.others"), rest));
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let (w, row_h, label_w) = (1040.0_f64, 30.0_f64, 300.0_f64);
    let h = row_h * rows.len() as f64 + 10.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(&tr!("audit.h.by_recipient"))
    );
    for (i, (name, n)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * row_h;
        let bw = (*n as f64 / max) * (w - label_w - 80.0);
        let shown: String = name.chars().take(28).collect();
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\" text-anchor=\"end\" fill=\"#1d2733\">{}</text>",
            label_w - 8.0,
            y + 19.0,
            esc(&shown)
        ));
        s.push_str(&format!(
            "<rect x=\"{label_w}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#8250df\"><title>{} {n}</title></rect>",
            y + 4.0,
            row_h - 8.0,
            esc(name)
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"#1d2733\">{n}</text>",
            label_w + bw + 6.0,
            y + 19.0
        ));
    }
    s.push_str("</svg>");
    s
}
