//! Open311's XML: the same tree as the JSON, with a declaration, no namespace, the
//! specification's element names, and each list as a plural element holding singular ones
//! (`<services><service>…</service></services>`).

use serde_json::Value;

/// The element name of one item of a list called `plural`.
fn singular(plural: &str) -> &str {
    match plural {
        "services" => "service",
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        "notes" => "note",
        "errors" => "error",
        "service_requests" => "request",
        "service_request_updates" => "request_update",
        "api_keys" => "api_key",
        "scopes" => "scope",
        _ => "value",
    }
}

/// Renders `v` under a root element. A top-level array becomes `<root><item/>…</root>`.
pub fn render(root: &str, v: &Value) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    element(&mut out, root, v);
    out.push('\n');
    out
}

fn element(out: &mut String, name: &str, v: &Value) {
    match v {
        // Absent values are empty elements, as in the specification's examples.
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Value::Array(items) => {
            open(out, name);
            let item = singular(name);
            for i in items {
                element(out, item, i);
            }
            close(out, name);
        }
        Value::Object(map) => {
            open(out, name);
            for (k, v) in map {
                element(out, &tag_name(k), v);
            }
            close(out, name);
        }
        Value::String(s) => {
            open(out, name);
            escape(out, s);
            close(out, name);
        }
        Value::Bool(b) => {
            open(out, name);
            out.push_str(if *b { "true" } else { "false" });
            close(out, name);
        }
        Value::Number(n) => {
            open(out, name);
            out.push_str(&n.to_string());
            close(out, name);
        }
    }
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Keys that come from data (question codes) are made into valid element names.
fn tag_name(k: &str) -> String {
    let mut s: String = k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped rather than breaking the document.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_nest_and_text_is_escaped() {
        let v = json!([{ "service_code": "a&b", "metadata": true, "keywords": null, "values": [{ "key": "1", "name": "<x>" }] }]);
        assert_eq!(
            render("services", &v),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<services><service><keywords/><metadata>true</metadata><service_code>a&amp;b</service_code><values><value><key>1</key><name>&lt;x&gt;</name></value></values></service></services>\n"
        );
    }
}
