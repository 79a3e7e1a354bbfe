//! The promotion checks, as the source's agent runs them; their outcomes are said without the
//! URL, which may carry a token.
//! - `http`: a GET that must answer 2xx (and contain `expect`, when set);
//! - `prometheus`: a query of Prometheus's HTTP API, judged by the core
//!   (`promotion::metric::judge`); no answer is `unknown`, never a pass.

use crate::environment::{Check, HttpCheck, PrometheusCheck};
use crate::promotion::gate::{CheckOutcome, CheckState};
use crate::promotion::metric;

/// One look at a check.
pub async fn run(c: &Check) -> CheckOutcome {
    let client = match reqwest::Client::builder().timeout(c.timeout()).build() {
        Ok(client) => client,
        Err(e) => {
            return CheckOutcome {
                name: c.name().to_string(),
                state: CheckState::Unknown,
                message: format!("cannot make an HTTP client: {e}"),
            }
        }
    };
    match c {
        Check::Http(h) => http_check(&client, h).await,
        Check::Prometheus(p) => prometheus_check(&client, p).await,
    }
}

/// The query as Prometheus's API takes it: the value now, or every step of the last `for`.
fn query(p: &PrometheusCheck, now: f64) -> (String, Vec<(&'static str, String)>) {
    let base = p.url.trim_end_matches('/');
    match &p.for_ {
        None => (
            format!("{base}/api/v1/query"),
            vec![("query", p.query.clone())],
        ),
        Some(span) => {
            let range = span.get().as_secs_f64();
            let step = (range / 30.0).max(1.0);
            (
                format!("{base}/api/v1/query_range"),
                vec![
                    ("query", p.query.clone()),
                    ("start", format!("{:.3}", now - range)),
                    ("end", format!("{now:.3}")),
                    ("step", format!("{step:.3}")),
                ],
            )
        }
    }
}

async fn prometheus_check(client: &reqwest::Client, p: &PrometheusCheck) -> CheckOutcome {
    let unknown = |message: String| CheckOutcome {
        name: p.query.clone(),
        state: CheckState::Unknown,
        message,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let (url, form) = query(p, now);
    let resp = match client.post(&url).form(&form).send().await {
        Ok(r) => r,
        Err(e) => return unknown(format!("Prometheus did not answer: {}", without_url(&e))),
    };
    let code = resp.status();
    // Prometheus answers a bad query with 400 and its error in the JSON body.
    match resp.json::<serde_json::Value>().await {
        Ok(answer) => metric::judge(&p.query, &p.condition, &answer),
        Err(_) => unknown(format!(
            "Prometheus answered HTTP {} without a query result",
            code.as_u16()
        )),
    }
}

async fn http_check(client: &reqwest::Client, c: &HttpCheck) -> CheckOutcome {
    let name = c.url.clone();
    match client.get(&c.url).send().await {
        Err(e) => CheckOutcome {
            name,
            state: CheckState::Failing,
            message: format!("no answer: {}", without_url(&e)),
        },
        Ok(resp) => {
            let code = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let contains = c.expect.as_deref().is_none_or(|x| body.contains(x));
            let state = if code.is_success() && contains {
                CheckState::Passing
            } else {
                CheckState::Failing
            };
            let message = match (code.is_success(), contains, &c.expect) {
                (false, _, _) => format!("HTTP {}", code.as_u16()),
                (true, false, Some(x)) => {
                    format!("HTTP {}, the body does not contain {x:?}", code.as_u16())
                }
                (true, _, Some(x)) => format!("HTTP {}, contains {x:?}", code.as_u16()),
                (true, _, None) => format!("HTTP {}", code.as_u16()),
            };
            CheckOutcome {
                name,
                state,
                message,
            }
        }
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "the check's URL");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One HTTP server on 127.0.0.1 answering every request with `status` and `body`.
    fn serve(status: &str, body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ready", listener.local_addr().unwrap());
        let status = status.to_string();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten().take(1) {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        url
    }

    #[tokio::test]
    async fn a_check_passes_on_2xx_with_the_expected_body_and_says_why_not_otherwise() {
        // (status, body, expect, passed, the message)
        let table = [
            ("200 OK", "{}", None, true, "HTTP 200"),
            (
                "200 OK",
                "{}",
                Some("{}"),
                true,
                "HTTP 200, contains \"{}\"",
            ),
            (
                "200 OK",
                "{}",
                Some("sextant"),
                false,
                "HTTP 200, the body does not contain \"sextant\"",
            ),
            ("503 Service Unavailable", "", None, false, "HTTP 503"),
        ];
        for (status, body, expect, passed, message) in table {
            let url = serve(status, body);
            let check = crate::environment::HttpCheck {
                url: url.clone(),
                expect: expect.map(str::to_string),
                timeout: None,
            };
            let o = run(&Check::Http(check)).await;
            assert_eq!(
                (o.state == CheckState::Passing, o.message.as_str()),
                (passed, message),
                "{status} {expect:?}"
            );
            assert_eq!(o.name, url);
        }
    }

    #[tokio::test]
    async fn a_check_no_one_answers_fails_without_its_url_in_the_message() {
        let addr = service_kit::testing::closed_port();
        let url = format!("http://{addr}/ready?token=s3cret");
        let check = crate::environment::HttpCheck {
            url,
            expect: None,
            timeout: sextant_core::duration::Span::parse("2s"),
        };
        let o = run(&Check::Http(check)).await;
        assert_eq!(o.state, CheckState::Failing);
        assert!(o.message.starts_with("no answer"), "{}", o.message);
        assert!(!o.message.contains("s3cret"), "{}", o.message);
    }
}
