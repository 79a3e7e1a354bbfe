//! A Prometheus check, judged: the condition it declares (`< 0.01`), and what one answer of
//! Prometheus's HTTP API (`/api/v1/query` or `/api/v1/query_range`) says of it.
//!
//! Every sample of every series must meet the condition. A query that returns no series, a
//! sample that is not a number (`NaN`, as `0/0` is when nothing was served), or an answer that is
//! not a success is **unknown**: it never passes, because a missing metric must never look
//! healthy, and it never counts as a breach either.
//! <https://prometheus.io/docs/prometheus/latest/querying/api/#expression-query-result-formats>

use super::gate::{CheckOutcome, CheckState};
pub use crate::environment::condition::{Condition, Op};
use serde_json::Value;

/// The last sample read, which a passing check reports: its series' labels and its value.
struct Seen {
    labels: String,
    value: f64,
}

/// The check's outcome from one answer of Prometheus's query API (a parsed JSON body).
pub fn judge(name: &str, condition: &Condition, answer: &Value) -> CheckOutcome {
    let outcome = |state, message: String| CheckOutcome {
        name: name.to_string(),
        state,
        message,
    };
    if answer["status"] != "success" {
        let why = answer["error"].as_str().unwrap_or("no error given");
        let kind = answer["errorType"].as_str().unwrap_or("error");
        return outcome(
            CheckState::Unknown,
            format!("Prometheus answered {kind}: {why}"),
        );
    }
    let samples = match samples(&answer["data"]) {
        Ok(s) => s,
        Err(why) => return outcome(CheckState::Unknown, why),
    };
    if samples.is_empty() {
        return outcome(
            CheckState::Unknown,
            "the query returned no series: nothing says it holds".into(),
        );
    }
    let mut last = None;
    for (labels, text) in samples {
        let Some(value) = text.parse::<f64>().ok().filter(|v| !v.is_nan()) else {
            return outcome(
                CheckState::Unknown,
                format!("the query returned {text}{labels}, not a number: nothing says it holds"),
            );
        };
        if !condition.holds(value) {
            return outcome(
                CheckState::Failing,
                format!("{value}{labels}, not {condition}"),
            );
        }
        last = Some(Seen { labels, value });
    }
    let seen = last.expect("at least one sample");
    outcome(
        CheckState::Passing,
        format!("{}{}, {condition}", seen.value, seen.labels),
    )
}

/// Every sample of the answer's data, each with its series' labels (` {a="b"}`, or empty).
fn samples(data: &Value) -> Result<Vec<(String, String)>, String> {
    let value = |pair: &Value| pair[1].as_str().map(str::to_string);
    let malformed = || "Prometheus's answer is not a query result".to_string();
    match data["resultType"].as_str() {
        Some("scalar") => Ok(vec![(
            String::new(),
            value(&data["result"]).ok_or_else(malformed)?,
        )]),
        Some("vector") => data["result"]
            .as_array()
            .ok_or_else(malformed)?
            .iter()
            .map(|s| {
                Ok((
                    labels(&s["metric"]),
                    value(&s["value"]).ok_or_else(malformed)?,
                ))
            })
            .collect(),
        Some("matrix") => {
            let mut out = Vec::new();
            for s in data["result"].as_array().ok_or_else(malformed)? {
                for pair in s["values"].as_array().ok_or_else(malformed)? {
                    out.push((labels(&s["metric"]), value(pair).ok_or_else(malformed)?));
                }
            }
            Ok(out)
        }
        other => Err(format!(
            "Prometheus answered a result of type {}, not a number",
            other.unwrap_or("none")
        )),
    }
}

fn labels(metric: &Value) -> String {
    let Some(m) = metric.as_object().filter(|m| !m.is_empty()) else {
        return String::new();
    };
    let pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or_default()))
        .collect();
    format!(" {{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(text: &str) -> Condition {
        Condition::try_from(text.to_string()).unwrap()
    }

    #[test]
    fn conditions_parse_their_operator_and_threshold_and_bad_ones_say_why() {
        let table = [
            ("< 0.01", Op::Lt, 0.01),
            ("<=250", Op::Le, 250.0),
            ("> 0", Op::Gt, 0.0),
            (" >= 1e3 ", Op::Ge, 1000.0),
            ("== 0", Op::Eq, 0.0),
            ("!= -1", Op::Ne, -1.0),
        ];
        for (text, op, threshold) in table {
            assert_eq!(condition(text), Condition { op, threshold }, "{text}");
        }
        for (text, says) in [
            ("0.01", "is not a comparison"),
            ("=< 1", "is not a comparison"),
            ("< ten", "\"ten\" is not a number"),
            ("< NaN", "\"NaN\" is not a number"),
            ("<", "\"\" is not a number"),
        ] {
            let e = Condition::try_from(text.to_string())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert_eq!(condition("<= 0.25").to_string(), "<= 0.25");
    }

    #[test]
    fn every_sample_must_hold_and_no_number_is_unknown_never_passing() {
        let vector = |values: &[&str]| {
            let result: Vec<Value> = values
                .iter()
                .enumerate()
                .map(|(i, v)| json!({"metric": {"instance": format!("i{i}")}, "value": [1.0, v]}))
                .collect();
            json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        };
        let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1.0, "0.001"], [2.0, "0.2"], [3.0, "0.001"]]}]}});
        let scalar = json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "0.004"]}});
        let refused =
            json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 5"});
        let table: [(&str, Value, CheckState, &str); 9] = [
            (
                "all below",
                vector(&["0.001", "0.002"]),
                CheckState::Passing,
                "0.002 {instance=\"i1\"}, < 0.01",
            ),
            (
                "one above",
                vector(&["0.001", "0.05"]),
                CheckState::Failing,
                "0.05 {instance=\"i1\"}, not < 0.01",
            ),
            (
                "at the threshold",
                vector(&["0.01"]),
                CheckState::Failing,
                "0.01 {instance=\"i0\"}, not < 0.01",
            ),
            (
                "a breach inside the range",
                matrix,
                CheckState::Failing,
                "0.2, not < 0.01",
            ),
            ("a scalar", scalar, CheckState::Passing, "0.004, < 0.01"),
            ("no series", vector(&[]), CheckState::Unknown, "no series"),
            (
                "nothing served: 0/0",
                vector(&["NaN"]),
                CheckState::Unknown,
                "returned NaN {instance=\"i0\"}, not a number",
            ),
            (
                "a bad query",
                refused,
                CheckState::Unknown,
                "bad_data: parse error at char 5",
            ),
            (
                "a string",
                json!({"status": "success", "data": {"resultType": "string", "result": [1.0, "x"]}}),
                CheckState::Unknown,
                "of type string",
            ),
        ];
        for (what, answer, state, says) in table {
            let o = judge("errors", &condition("< 0.01"), &answer);
            assert_eq!(o.state, state, "{what}: {}", o.message);
            assert!(o.message.contains(says), "{what}: {}", o.message);
            assert_eq!(o.name, "errors");
        }
    }
}
