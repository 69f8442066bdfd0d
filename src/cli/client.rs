//! `casevault client …`

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::context::{read_json_input, table};
use super::Context;
use crate::domain::time::Date;
use crate::domain::{Category, Client, Gender, Guardian, NewClient, Risk};
use crate::error::{Error, Result};
use crate::tr;

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Add a client, from flags or from a JSON file (`--from FILE`, `-` for stdin).
    Add(Box<AddArgs>),
    /// List the clients you may see.
    List,
    /// Show one client by id or agency number.
    Show { client: String },
    /// Find clients by (part of) a name or number.
    Search {
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// JSON object with the client's fields (number, name, birth_date, …).
    #[arg(long, conflicts_with_all = ["number", "name"])]
    pub from: Option<PathBuf>,
    /// Agency client number (服务对象编号).
    #[arg(long, required_unless_present = "from")]
    pub number: Option<String>,
    #[arg(long, required_unless_present = "from")]
    pub name: Option<String>,
    /// YYYY-MM-DD (drives the guardian rule for minors).
    #[arg(long)]
    pub birth_date: Option<String>,
    /// female, male, other, unstated.
    #[arg(long)]
    pub gender: Option<String>,
    #[arg(long, default_value = "")]
    pub phone: String,
    #[arg(long, default_value = "")]
    pub address: String,
    #[arg(long, default_value = "")]
    pub id_number: String,
    /// Guardian as NAME:RELATION[:PHONE]; repeat for several.
    #[arg(long)]
    pub guardian: Vec<String>,
    /// none, yellow (黄色预警), red (红色风险).
    #[arg(long)]
    pub risk: Option<String>,
    /// basic, development, crisis.
    #[arg(long)]
    pub category: Option<String>,
}

fn parse<T>(
    v: &Option<String>,
    f: fn(&str) -> Option<T>,
    default: T,
    what: &str,
    codes: String,
) -> Result<T> {
    match v {
        None => Ok(default),
        Some(s) => f(s).ok_or_else(|| {
            Error::Invalid(tr!("cli.bad_value", what = what, value = s, codes = codes))
        }),
    }
}

fn new_client(a: &AddArgs) -> Result<NewClient> {
    if let Some(f) = &a.from {
        let bytes = read_json_input(f)?;
        return serde_json::from_slice(&bytes).map_err(|e| {
            Error::Invalid(tr!("cli.bad_json", line = e.line(), column = e.column()))
        });
    }
    let guardians = a
        .guardian
        .iter()
        .map(|g| {
            let mut p = g.splitn(3, ':');
            match (p.next(), p.next()) {
                (Some(n), Some(r)) if !n.is_empty() => Ok(Guardian {
                    name: n.to_string(),
                    relation: r.to_string(),
                    phone: p.next().unwrap_or("").to_string(),
                }),
                _ => Err(Error::Invalid(tr!("cli.bad_guardian"))),
            }
        })
        .collect::<Result<_>>()?;
    Ok(NewClient {
        number: a.number.clone().unwrap_or_default(),
        name: a.name.clone().unwrap_or_default(),
        birth_date: match &a.birth_date {
            None => None,
            Some(s) => {
                Some(Date::parse(s).ok_or_else(|| Error::Invalid(tr!("cli.bad_date", value = s)))?)
            }
        },
        gender: parse(
            &a.gender,
            Gender::parse,
            Gender::Unstated,
            "gender",
            Gender::codes(),
        )?,
        phone: a.phone.clone(),
        address: a.address.clone(),
        id_number: a.id_number.clone(),
        guardians,
        risk: parse(&a.risk, Risk::parse, Risk::None, "risk", Risk::codes())?,
        category: parse(
            &a.category,
            Category::parse,
            Category::Basic,
            "category",
            Category::codes(),
        )?,
    })
}

/// A table of clients.
pub fn client_table(rows: &[Client]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.data.number.clone(),
                c.data.name.clone(),
                c.data.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                c.data.risk.label().to_string(),
                c.data.category.label().to_string(),
            ]
        })
        .collect();
    table(
        &[
            tr!("cli.h_id"),
            tr!("cli.h_number"),
            tr!("cli.h_name"),
            tr!("cli.h_birth"),
            tr!("cli.h_risk"),
            tr!("cli.h_category"),
        ],
        &body,
    )
}

pub fn run(ctx: &mut Context, cmd: ClientCmd) -> Result<()> {
    match cmd {
        ClientCmd::Add(a) => {
            let c = new_client(&a)?;
            let mut s = ctx.session()?;
            let client = s.client_add(&c)?;
            ctx.emit(&client, || {
                tr!(
                    "cli.client_added",
                    id = client.id,
                    number = client.data.number
                )
            });
        }
        ClientCmd::List => {
            let rows = ctx.session()?.client_list()?;
            ctx.emit(&rows, || client_table(&rows));
        }
        ClientCmd::Show { client } => {
            let c = ctx.session()?.client_show(&client)?;
            ctx.emit(&c, || {
                let d = &c.data;
                let guardians: Vec<String> = d
                    .guardians
                    .iter()
                    .map(|g| format!("{} ({}) {}", g.name, g.relation, g.phone))
                    .collect();
                [
                    (tr!("cli.h_id").as_str(), c.id.to_string()),
                    (tr!("cli.h_number").as_str(), d.number.clone()),
                    (tr!("cli.h_name").as_str(), d.name.clone()),
                    (
                        tr!("cli.h_birth").as_str(),
                        d.birth_date.map(|b| b.to_string()).unwrap_or_default(),
                    ),
                    (tr!("cli.h_gender").as_str(), d.gender.label().to_string()),
                    (tr!("cli.h_phone").as_str(), d.phone.clone()),
                    (tr!("cli.h_address").as_str(), d.address.clone()),
                    (tr!("cli.h_id_number").as_str(), d.id_number.clone()),
                    (tr!("cli.h_guardians").as_str(), guardians.join("; ")),
                    (tr!("cli.h_risk").as_str(), d.risk.label().to_string()),
                    (
                        tr!("cli.h_category").as_str(),
                        d.category.label().to_string(),
                    ),
                ]
                .iter()
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect()
            });
        }
        ClientCmd::Search { text, limit } => {
            let rows = ctx.session()?.client_search(&text, limit)?;
            ctx.emit(&rows, || client_table(&rows));
        }
    }
    Ok(())
}
