//! `caiji-bench gen-archive`: an archive of N article captures generated from the fixture
//! templates, for `just bench-rerun`. Each capture is a fixture article page whose text was
//! varied (one hanzi in ~15 outside tags replaced, from a seeded RNG), re-encoded in the page's
//! own charset: the same templates and charset paths as the real sites, all bodies distinct.

use std::path::{Path, PathBuf};

use anyhow::Context;
use caiji_archive::Archive;
use encoding_rs::Encoding;
use rand::{Rng, SeedableRng, rngs::StdRng};

pub struct Template {
    pub site: String,
    pub url_base: String,
    /// Digits after the leading 8 in a generated id.
    pub id_width: usize,
    pub url_suffix: String,
    pub content_type: String,
    pub encoding: &'static Encoding,
    pub html: String,
}

impl Template {
    /// The URL of generated capture `k`.
    pub fn url(&self, k: usize) -> String {
        format!("{}8{k:0w$}{}", self.url_base, self.url_suffix, w = self.id_width)
    }
}

/// The fixture article pages, decoded.
pub fn templates(fixtures: &Path) -> anyhow::Result<Vec<Template>> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs {
        let Ok(toml) = std::fs::read_to_string(dir.join("site.toml")) else { continue };
        let field = |k: &str| {
            toml.lines().find_map(|l| {
                l.strip_prefix(&format!("{k} = \"")).and_then(|r| r.split('"').next()).map(str::to_string)
            })
        };
        let (Some(site), Some(host), Some(scheme), Some(enc), Some(ct)) =
            (field("name"), field("host"), field("scheme"), field("encoding"), field("http_content_type"))
        else {
            continue;
        };
        let encoding = Encoding::for_label(enc.as_bytes()).context("site.toml encoding")?;
        let pages = toml
            .lines()
            .find_map(|l| l.strip_prefix("article_pages = "))
            .map(|v| v.split('"').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default();
        for p in pages {
            let bytes = std::fs::read(dir.join("pages").join(p.trim_start_matches('/')))?;
            let (html, _, _) = encoding.decode(&bytes);
            // A URL the site's article rules accept, shaped as the fixture's own: the id in its
            // last segment (`show-15321.html`, `5b0e0692f7885803d91afb5e`) replaced by 8 and the
            // capture's number, zero-padded to the id's length (`show-80007.html`).
            let (dir_part, last) = p.rsplit_once('/').unwrap_or(("", p.as_str()));
            let id_end = last.find('.').unwrap_or(last.len());
            let id_start = last[..id_end].find(|c: char| c.is_ascii_digit()).unwrap_or(id_end);
            out.push(Template {
                site: site.clone(),
                url_base: format!("{scheme}://{host}{dir_part}/{}", &last[..id_start]),
                id_width: (id_end - id_start).saturating_sub(1),
                url_suffix: last[id_end..].to_string(),
                content_type: ct.clone(),
                encoding,
                html: html.into_owned(),
            });
        }
    }
    anyhow::ensure!(!out.is_empty(), "no fixture articles under {}", fixtures.display());
    Ok(out)
}

const HANZI: &str = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域读";

/// The page with about one hanzi in `every` (outside tags) swapped for another.
pub fn vary(html: &str, seed: u64, every: u32) -> String {
    let pool: Vec<char> = HANZI.chars().collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ => {}
        }
        if !in_tag && ('\u{4E00}'..='\u{9FFF}').contains(&c) && rng.random_ratio(1, every) {
            out.push(pool[rng.random_range(0..pool.len())]);
        } else {
            out.push(c);
        }
    }
    out
}

/// Creates the database `db` on `server_url` afresh and fills it with `n` captures.
pub async fn generate(server_url: &str, db: &str, fixtures: &Path, n: usize) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))).execute(&mut conn).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut conn).await?;
    conn.close().await?;
    let url = caiji_archive::testing::with_database(server_url, db);
    let archive = Archive::connect(&url).await?;
    let templates = templates(fixtures)?;
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO crawl_runs (command, arguments, caiji_version, outcome) VALUES ('generate', $1, $2, 'done') RETURNING id",
    )
    .bind(serde_json::json!({"captures": n}))
    .bind(env!("CARGO_PKG_VERSION"))
    .fetch_one(archive.pool())
    .await?;
    let batch = 500;
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        // Build a batch in parallel (varying + encoding is the slow part), insert it at once.
        // (site, url, content type, body, sha256)
        #[allow(clippy::type_complexity)]
        let rows: Vec<(String, String, String, Vec<u8>, Vec<u8>)> = {
            use rayon::prelude::*;
            (i..end)
                .into_par_iter()
                .map(|k| {
                    let t = &templates[k % templates.len()];
                    let html = vary(&t.html, k as u64, 15);
                    let (bytes, _, _) = t.encoding.encode(&html);
                    let body = bytes.into_owned();
                    let sha = caiji_archive::sha256(&body).to_vec();
                    (t.site.clone(), t.url(k), t.content_type.clone(), body, sha)
                })
                .collect()
        };
        let (sites, urls, cts, bodies, shas): (Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>) =
            rows.into_iter().fold((vec![], vec![], vec![], vec![], vec![]), |mut acc, (s, u, c, b, h)| {
                acc.0.push(s);
                acc.1.push(u);
                acc.2.push(c);
                acc.3.push(b);
                acc.4.push(h);
                acc
            });
        let mut tx = archive.pool().begin().await?;
        sqlx::query(
            "INSERT INTO bodies (sha256, length, content)
             SELECT h, octet_length(b), b FROM unnest($1::bytea[], $2::bytea[]) AS t(h, b) ON CONFLICT DO NOTHING",
        )
        .bind(&shas)
        .bind(&bodies)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO captures (crawl_run_id, site, url, canonical_url, final_url, outcome, status, fetched_at, duration_ms,
                                   attempts, content_type, body_sha256, body_length)
             SELECT $1, s, u, u, u, 'ok', 200, now(), 1, 1, c, h, octet_length(b)
             FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[]) AS t(s, u, c, h, b)",
        )
        .bind(run)
        .bind(&sites)
        .bind(&urls)
        .bind(&cts)
        .bind(&shas)
        .bind(&bodies)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO frontier (canonical_url, site, url, kind, state)
             SELECT u, s, u, 'article', 'done' FROM unnest($1::text[], $2::text[]) AS t(s, u)",
        )
        .bind(&sites)
        .bind(&urls)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        i = end;
    }
    sqlx::query("ANALYZE").execute(archive.pool()).await?;
    Ok(url)
}
