//! Authorizers: pre-flight validation (every API message), loading from YAML and CSV,
//! the permission rule, the request body, and that no personal value is ever printed.

use std::path::{Path, PathBuf};

use balance_monitor::authorizers::csv::parse_csv_bytes;
use balance_monitor::authorizers::permissions::check_private;
use balance_monitor::authorizers::source::{LoadError, LoadedAuthorizers, load_file, load_inline};
use balance_monitor::authorizers::validate::{
    AuthorizerValidationError, check_authorizer, check_batch,
};
use balance_monitor::authorizers::wire::request_body;
use balance_monitor::authorizers::{Authorizer, Origin};
use balance_monitor::yaml;
use serde_json::{Map, Value, json};

use crate::support::write_file;

// ---------------------------------------------------------------------------------
// Personal values used throughout; none may ever appear in Debug, Display or warnings.

const SSN: &str = "318-52-7946";
const SSN_DIGITS: &str = "318527946";
const EIN: &str = "84-3917265";
const ACCOUNT: &str = "90871234565";
const ROUTING: &str = "021000021";
const CARD: &str = "4929381726354019";
const CVV: &str = "7391";
const PHONE: &str = "5558671309";
const FIRST: &str = "Zebulon";
const LAST: &str = "Quarrington";
const STREET: &str = "742 Evergreen Terrace";
const CITY: &str = "Shelbyville";
const ZIP: &str = "49007";
const DOB_YEAR: &str = "1947";

const PERSONAL: &[&str] = &[
    SSN,
    SSN_DIGITS,
    EIN,
    ACCOUNT,
    ROUTING,
    CARD,
    CVV,
    PHONE,
    FIRST,
    LAST,
    STREET,
    CITY,
    ZIP,
    DOB_YEAR,
    "Evergreen",
    "11/23/1947",
];

fn assert_no_personal_value(text: &str) {
    for value in PERSONAL {
        assert!(!text.contains(value), "`{value}` leaked into: {text}");
    }
}

fn bank_account() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "authorizer_unique_id": "A-1",
        "first_name": FIRST,
        "last_name": LAST,
        "address": {"street_address_line1": STREET, "city": CITY, "state": "MI", "zip_code": ZIP, "country": "US"},
        "phone_number": PHONE,
        "date_of_birth": {"day": 23, "month": 11, "year": 1947},
        "ssn": SSN,
        "account_number": ACCOUNT,
        "routing_number": ROUTING,
    }) else {
        unreachable!()
    };
    map
}

fn debit_card() -> Map<String, Value> {
    let mut map = bank_account();
    map.remove("account_number");
    map.remove("routing_number");
    map.remove("ssn");
    map.insert("ein".into(), json!(EIN));
    map.insert("debit_card_number".into(), json!(CARD));
    map.insert("cvv".into(), json!(CVV));
    map.insert("expiration_month".into(), json!(9));
    map.insert("expiration_year".into(), json!(2031));
    map
}

fn private_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    write_file(dir, name, contents, 0o600)
}

// ---------------------------------------------------------------------------------
// Validation

#[test]
fn the_messages_are_the_openapi_enum_in_order() {
    let text = std::fs::read_to_string("tests/data/rightfoot-openapi.yaml").unwrap();
    let spec: Value = yaml::from_str(&text, Path::new("rightfoot-openapi.yaml")).unwrap();
    let documented: Vec<&str> = spec["components"]["schemas"]["AuthorizerValidationError"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = AuthorizerValidationError::ALL
        .iter()
        .map(|e| e.message())
        .collect();
    assert_eq!(documented.len(), 27);
    assert_eq!(ours, documented);
    for error in AuthorizerValidationError::ALL {
        assert_eq!(error.to_string(), error.message());
        assert_eq!(
            AuthorizerValidationError::from_message(error.message()),
            Some(*error)
        );
    }
    assert_eq!(
        AuthorizerValidationError::from_message("Something new."),
        None
    );
}

#[test]
fn valid_bank_account_and_debit_card_authorizers_pass() {
    assert_eq!(check_authorizer(&bank_account()), Ok(()));
    assert_eq!(check_authorizer(&debit_card()), Ok(()));
    // Accepted variants of the formats.
    let mut variant = bank_account();
    variant["address"]["zip_code"] = json!("49007-1234");
    variant["ssn"] = json!(SSN_DIGITS);
    assert_eq!(check_authorizer(&variant), Ok(()));
    let mut variant = debit_card();
    variant["ein"] = json!("8439172650");
    variant["cvv"] = json!("739");
    variant.insert("routing_number".into(), json!(ROUTING));
    assert_eq!(check_authorizer(&variant), Ok(()));
    variant["ein"] = json!("843917265");
    assert_eq!(check_authorizer(&variant), Ok(()));
}

type Edit = fn(&mut Map<String, Value>);

/// Every one of the API's 27 messages, each triggered by one specific bad input and
/// asserted by its exact text.
#[test]
fn every_message_is_triggered_by_its_bad_input() {
    let bank: &[(&str, Edit)] = &[
        ("Missing authorizer unique ID for authorizer(s).", |m| {
            m.remove("authorizer_unique_id");
        }),
        ("Missing zip code for authorizer(s).", |m| {
            m["address"].as_object_mut().unwrap().remove("zip_code");
        }),
        (
            "Invalid ZIP code for authorizer(s). Must be 5 digits or in 5+4 format (e.g., 94107 or 94107-1234).",
            |m| m["address"]["zip_code"] = json!("4900"),
        ),
        ("Missing day of birth for authorizer(s).", |m| {
            m["date_of_birth"].as_object_mut().unwrap().remove("day");
        }),
        ("Missing month of birth for authorizer(s).", |m| {
            m["date_of_birth"].as_object_mut().unwrap().remove("month");
        }),
        ("Missing year of birth for authorizer(s).", |m| {
            m["date_of_birth"].as_object_mut().unwrap().remove("year");
        }),
        (
            "Invalid phone number for authorizer(s). Phone number must be 10 digits long without dashes and parentheses.",
            |m| m["phone_number"] = json!("(555) 867-1309"),
        ),
        ("Missing phone number for authorizer(s).", |m| {
            m.remove("phone_number");
        }),
        ("Missing date of birth for authorizer(s).", |m| {
            m.remove("date_of_birth");
        }),
        ("SSN must be of type string for authorizer(s).", |m| {
            m["ssn"] = json!(318527946)
        }),
        ("Invalid SSN for authorizer(s).", |m| {
            m["ssn"] = json!("318-527-946")
        }),
        ("EIN must be of type string for authorizer(s).", |m| {
            m.insert("ein".into(), json!(843917265));
        }),
        ("Invalid EIN for authorizer(s).", |m| {
            m.insert("ein".into(), json!("843-917265"));
        }),
        ("Number must be of type string for authorizer(s).", |m| {
            m["phone_number"] = json!(5558671309u64)
        }),
        (
            "Missing Account Number or Debit Card Number for authorizer(s).",
            |m| {
                m.remove("account_number");
            },
        ),
        (
            "Account number must be of type string for authorizer(s).",
            |m| m["account_number"] = json!(90871234565u64),
        ),
        (
            "Invalid routing number for authorizer(s). Routing number must be 9 digits long.",
            |m| m["routing_number"] = json!("02100002"),
        ),
        ("Missing routing number for authorizer(s).", |m| {
            m.remove("routing_number");
        }),
        ("Missing SSN or EIN for authorizer(s).", |m| {
            m.remove("ssn");
        }),
        (
            "Provide either Account Number or Debit Card Number for authorizer(s), not both.",
            |m| {
                m.insert("debit_card_number".into(), json!(CARD));
            },
        ),
    ];
    let card: &[(&str, Edit)] = &[
        (
            "Debit card number must be of type string for authorizer(s).",
            |m| m["debit_card_number"] = json!(4929381726354019u64),
        ),
        (
            "Invalid debit card number for authorizer(s). Must be 16 digits.",
            |m| m["debit_card_number"] = json!("4929 3817 2635 4019"),
        ),
        ("CVV must be of type string for authorizer(s).", |m| {
            m["cvv"] = json!(7391)
        }),
        (
            "Invalid CVV for authorizer(s). Must be 3 or 4 digits.",
            |m| m["cvv"] = json!("73"),
        ),
        (
            "Invalid expiration month for authorizer(s). Must be between 1 and 12.",
            |m| m["expiration_month"] = json!(13),
        ),
        (
            "Invalid expiration year for authorizer(s). Must be 4 digits.",
            |m| m["expiration_year"] = json!(31),
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (base, table) in [(bank_account(), bank), (debit_card(), card)] {
        for (expected, edit) in table {
            let mut object = base.clone();
            edit(&mut object);
            let error = check_authorizer(&object).expect_err(expected);
            assert_eq!(error.to_string(), *expected);
            seen.insert(*expected);
        }
    }
    // The debit card's optional routing number is checked too.
    let mut object = debit_card();
    object.insert("routing_number".into(), json!("0210000210"));
    assert_eq!(
        check_authorizer(&object).unwrap_err().to_string(),
        "Invalid routing number for authorizer(s). Routing number must be 9 digits long."
    );

    // The 27th message is the batch-level one.
    let (first, second) = (bank_account(), debit_card());
    let errors = check_batch(&[&first, &second]);
    let expected = "Duplicate authorizer unique ID not allowed.";
    assert_eq!(errors[0].map(|e| e.to_string()).as_deref(), Some(expected));
    seen.insert(expected);

    assert_eq!(seen.len(), 27, "every message is covered");
}

#[test]
fn duplicates_reject_every_occurrence_and_only_those() {
    let a = bank_account();
    let mut b = bank_account();
    b["authorizer_unique_id"] = json!("A-2");
    let mut c = debit_card();
    c.remove("phone_number"); // invalid, and a duplicate of `a`
    let mut d = bank_account();
    d.remove("authorizer_unique_id");
    let mut e = bank_account();
    e.remove("authorizer_unique_id");
    let errors = check_batch(&[&a, &b, &c, &d, &e]);
    use AuthorizerValidationError::*;
    assert_eq!(
        errors,
        vec![
            Some(DuplicateUniqueId),
            None,
            Some(DuplicateUniqueId),
            Some(MissingUniqueId),
            Some(MissingUniqueId),
        ]
    );
}

#[test]
fn arbitrary_json_is_judged_without_panicking() {
    let odd = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(-9.9e300),
        json!(""),
        json!(" "),
        json!("é٣"),
        json!([]),
        json!([1, "2", null]),
        json!({}),
        json!({"day": {"x": []}}),
    ];
    let keys = [
        "authorizer_unique_id",
        "address",
        "phone_number",
        "date_of_birth",
        "ssn",
        "ein",
        "account_number",
        "routing_number",
        "debit_card_number",
        "cvv",
        "expiration_month",
        "expiration_year",
    ];
    let mut judged = 0;
    for base in [bank_account(), debit_card(), Map::new()] {
        for key in keys {
            for value in &odd {
                let mut object = base.clone();
                object.insert(key.to_string(), value.clone());
                let _ = check_authorizer(&object);
                for inner in ["zip_code", "day", "month", "year"] {
                    let mut nested = base.clone();
                    nested.insert(key.to_string(), json!({ inner: value.clone() }));
                    let _ = check_authorizer(&nested);
                }
                judged += 1;
            }
        }
    }
    assert_eq!(judged, 3 * keys.len() * odd.len());
    // Spot checks of how odd values are judged.
    let mut object = bank_account();
    object["date_of_birth"]["day"] = json!(-1);
    assert_eq!(
        check_authorizer(&object),
        Err(AuthorizerValidationError::MissingDayOfBirth)
    );
    object["date_of_birth"] = json!({"day": 31, "month": 4, "year": 1947});
    assert_eq!(
        check_authorizer(&object),
        Err(AuthorizerValidationError::MissingDayOfBirth)
    );
    object["date_of_birth"] = json!("11/23/1947");
    assert_eq!(
        check_authorizer(&object),
        Err(AuthorizerValidationError::MissingDateOfBirth)
    );
    let objects: Vec<Map<String, Value>> = odd
        .iter()
        .map(|v| Map::from_iter([("authorizer_unique_id".to_string(), v.clone())]))
        .collect();
    let refs: Vec<&Map<String, Value>> = objects.iter().collect();
    assert_eq!(check_batch(&refs).len(), odd.len());
}

// ---------------------------------------------------------------------------------
// CSV

const HEADER: &str = "authorizer_unique_id,first_name,last_name,street_address_line1,street_address_line2,city,state,zip_code,country,phone_number,date_of_birth,ssn,ein,account_number,routing_number,debit_card_number,cvv,expiration_month,expiration_year";

fn csv_row(id: &str, dob: &str) -> String {
    format!(
        "{id},{FIRST},{LAST},{STREET},,{CITY},MI,{ZIP},US,{PHONE},{dob},{SSN},,{ACCOUNT},{ROUTING},,,,"
    )
}

fn parse(text: &str) -> LoadedAuthorizers {
    parse_csv_bytes(text.as_bytes(), Path::new("list.csv")).unwrap()
}

#[test]
fn csv_rows_become_wire_objects_that_validate() {
    let text = format!(
        "{HEADER}\n{}\n{}\nC-3,{FIRST},{LAST},,,,,{ZIP},,{PHONE},1/5/1970,,{EIN},,,{CARD},{CVV},09,2031\n",
        csv_row("A-1", "11/23/1947"),
        csv_row("B-2", "11/23/1947"),
    );
    let loaded = parse(&text);
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let ids: Vec<&str> = loaded.valid.iter().map(Authorizer::id).collect();
    assert_eq!(ids, ["A-1", "B-2", "C-3"]);
    assert_eq!(
        loaded.valid[2].origin(),
        &Origin::Csv {
            file: Path::new("list.csv").into(),
            row: 4
        }
    );
    let body: Value = serde_json::from_slice(&request_body(&loaded.valid[2..], None)).unwrap();
    assert_eq!(
        body["authorizers"][0],
        json!({
            "authorizer_unique_id": "C-3", "first_name": FIRST, "last_name": LAST,
            "address": {"zip_code": ZIP}, "phone_number": PHONE,
            "date_of_birth": {"day": 5, "month": 1, "year": 1970},
            "ein": EIN, "debit_card_number": CARD, "cvv": CVV,
            "expiration_month": 9, "expiration_year": 2031,
        })
    );
}

#[test]
fn csv_latin1_is_decoded_with_a_warning() {
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"L-1,Ren\xE9e,");
    bytes.extend_from_slice(
        csv_row("", "11/23/1947")
            .trim_start_matches(&format!(",{FIRST},"))
            .as_bytes(),
    );
    bytes.push(b'\n');
    let loaded = parse_csv_bytes(&bytes, Path::new("/lists/latin.csv")).unwrap();
    assert_eq!(loaded.valid.len(), 1, "{:?}", loaded.rejected);
    assert_eq!(
        loaded.warnings,
        ["/lists/latin.csv: the file is not valid UTF-8; it was decoded as Latin-1"]
    );
    let body = String::from_utf8(request_body(&loaded.valid, None)).unwrap();
    assert!(body.contains("\"first_name\":\"Renée\""), "{body}");
}

#[test]
fn csv_meta_columns_become_metadata_and_stay_out_of_the_body() {
    let text = format!(
        "{HEADER},meta_payment_amount,meta_customer_ref\n{},125.50,CR-9981\n{},,CR-1\n",
        csv_row("A-1", "11/23/1947"),
        csv_row("B-2", "11/23/1947"),
    );
    let loaded = parse(&text);
    assert_eq!(loaded.valid.len(), 2);
    let first = loaded.valid[0].metadata();
    assert_eq!(first.get("payment_amount"), Some("125.50"));
    assert_eq!(first.get("customer_ref"), Some("CR-9981"));
    // An empty cell is an absent value.
    assert_eq!(loaded.valid[1].metadata().len(), 1);
    let body = String::from_utf8(request_body(&loaded.valid, None)).unwrap();
    for absent in [
        "payment_amount",
        "125.50",
        "customer_ref",
        "CR-9981",
        "meta_",
    ] {
        assert!(!body.contains(absent), "{absent} in {body}");
    }
}

#[test]
fn csv_rejections_carry_row_numbers_counting_the_header_as_row_1() {
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        csv_row("A-1", "11/23/1947"),
        csv_row("", "11/23/1947"),
        csv_row("C-3", "11/23/1947").replace(PHONE, "555-867-1309"),
    );
    let loaded = parse(&text);
    assert_eq!(loaded.valid.len(), 1);
    let rows: Vec<(u64, &str, String)> = loaded
        .rejected
        .iter()
        .map(|r| match &r.origin {
            Origin::Csv { row, .. } => (*row, r.id.as_str(), r.error.to_string()),
            other => panic!("unexpected origin {other:?}"),
        })
        .collect();
    assert_eq!(
        rows,
        [
            (3, "", "Missing authorizer unique ID for authorizer(s).".to_string()),
            (
                4,
                "C-3",
                "Invalid phone number for authorizer(s). Phone number must be 10 digits long without dashes and parentheses."
                    .to_string()
            ),
        ]
    );
    assert_eq!(
        loaded.rejected[1].to_string(),
        "list.csv row 4: authorizer `C-3` rejected: Invalid phone number for authorizer(s). Phone number must be 10 digits long without dashes and parentheses."
    );
}

#[test]
fn csv_bom_is_stripped() {
    let text = format!("\u{FEFF}{HEADER}\n{}\n", csv_row("A-1", "11/23/1947"));
    let loaded = parse(&text);
    assert_eq!(
        loaded.valid.len(),
        1,
        "{:?} {:?}",
        loaded.rejected,
        loaded.warnings
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn csv_quoted_fields_keep_their_commas() {
    let text = format!(
        "{HEADER},meta_note\n{},\"late, twice\"\n",
        csv_row("A-1", "11/23/1947").replacen(STREET, "\"Apt 4, 742 Evergreen Terrace\"", 1)
    );
    let loaded = parse(&text);
    assert_eq!(loaded.valid.len(), 1, "{:?}", loaded.rejected);
    assert_eq!(loaded.valid[0].metadata().get("note"), Some("late, twice"));
    let body = String::from_utf8(request_body(&loaded.valid, None)).unwrap();
    assert!(
        body.contains("\"street_address_line1\":\"Apt 4, 742 Evergreen Terrace\""),
        "{body}"
    );
}

#[test]
fn csv_malformed_date_of_birth_rejects_the_row_with_a_warning_without_the_value() {
    let cases = [
        ("1947-11-23", "Missing date of birth for authorizer(s)."),
        ("11/31/1947", "Missing day of birth for authorizer(s)."),
        ("13/23/1947", "Missing month of birth for authorizer(s)."),
        ("11/23/47", "Missing year of birth for authorizer(s)."),
    ];
    for (dob, expected) in cases {
        let loaded = parse(&format!("{HEADER}\n{}\n", csv_row("A-1", dob)));
        assert!(loaded.valid.is_empty(), "{dob}");
        assert_eq!(loaded.rejected[0].error.to_string(), expected, "{dob}");
        assert_eq!(
            loaded.warnings,
            [
                "list.csv row 2: column date_of_birth is not a real date in MM/DD/YYYY form; the row is rejected"
            ],
            "{dob}"
        );
        assert!(!format!("{loaded:?}").contains(dob));
    }
}

#[test]
fn csv_unknown_columns_warn_and_date_header_label_is_accepted() {
    let header = HEADER.replace("date_of_birth", "date_of_birth (MM/DD/YYYY)");
    let text = format!(
        "{header},notes,ssnn,,meta_\n{},x,y,z,w\n",
        csv_row("A-1", "11/23/1947")
    );
    let loaded = parse(&text);
    assert_eq!(loaded.valid.len(), 1, "{:?}", loaded.rejected);
    assert_eq!(
        loaded.warnings,
        [
            "list.csv row 1: unknown column 20 (`notes`) (ignored)",
            "list.csv row 1: unknown column 21 (`ssnn`), did you mean `ssn`? (ignored)",
            "list.csv row 1: column 22 has no name (ignored)",
            "list.csv row 1: column 23 (`meta_`) has no metadata name after `meta_` (ignored)",
        ]
    );
}

#[test]
fn csv_structural_errors_name_the_row_and_never_a_value() {
    let short = format!(
        "{HEADER}\n{}\n{SSN},{ACCOUNT}\n",
        csv_row("A-1", "11/23/1947")
    );
    let error = parse_csv_bytes(short.as_bytes(), Path::new("list.csv")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "list.csv row 3: the row has 2 fields, the header has 19"
    );
    assert_no_personal_value(&format!("{error:?}"));

    // A file without a header: its first row is data, and must not be echoed.
    let headerless = format!("{}\n", csv_row("A-1", "11/23/1947"));
    let error = parse_csv_bytes(headerless.as_bytes(), Path::new("list.csv")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "list.csv row 1: the header has no `authorizer_unique_id` column; the first row must name the columns"
    );
    assert_no_personal_value(&format!("{error} {error:?}"));

    let twice = format!("{HEADER},ssn\n");
    let error = parse_csv_bytes(twice.as_bytes(), Path::new("list.csv")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "list.csv row 1: column 20 (`ssn`) appears twice"
    );

    let error = parse_csv_bytes(b"", Path::new("list.csv")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "list.csv row 1: the file has no header row"
    );
}

// ---------------------------------------------------------------------------------
// YAML

fn yaml_item(id: &str) -> String {
    format!(
        "- authorizer_unique_id: {id}
  first_name: {FIRST}
  last_name: {LAST}
  address:
    street_address_line1: {STREET}
    city: {CITY}
    state: MI
    zip_code: \"{ZIP}\"
    country: US
  phone_number: \"{PHONE}\"
  date_of_birth: {{day: 23, month: 11, year: {DOB_YEAR}}}
  ssn: {SSN}
  account_number: \"{ACCOUNT}\"
  routing_number: \"{ROUTING}\"
"
    )
}

#[test]
fn yaml_file_as_a_list_or_a_mapping_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "{}  metadata: {{payment_amount: \"125.50\", attempts: 2, note: null}}\n{}",
        yaml_item("A-1"),
        yaml_item("B-2")
    );
    let path = private_file(dir.path(), "list.yaml", list.as_bytes());
    let loaded = load_file(&path).unwrap();
    assert!(
        loaded.rejected.is_empty() && loaded.warnings.is_empty(),
        "{loaded:?}"
    );
    let ids: Vec<&str> = loaded.valid.iter().map(Authorizer::id).collect();
    assert_eq!(ids, ["A-1", "B-2"]);
    let metadata = loaded.valid[0].metadata();
    assert_eq!(metadata.len(), 2);
    assert_eq!(metadata.get("payment_amount"), Some("125.50"));
    assert_eq!(metadata.get("attempts"), Some("2"));
    assert_eq!(
        loaded.valid[1].origin(),
        &Origin::Yaml {
            file: path.as_path().into(),
            line: 16,
            column: 3
        }
    );
    let body = String::from_utf8(request_body(&loaded.valid, None)).unwrap();
    assert!(
        !body.contains("metadata") && !body.contains("125.50"),
        "{body}"
    );

    let indented: String = list.lines().map(|l| format!("  {l}\n")).collect();
    let mapping = format!("authorizers:\n{indented}");
    let path = private_file(dir.path(), "list.yml", mapping.as_bytes());
    let from_mapping = load_file(&path).unwrap();
    assert_eq!(from_mapping.valid.len(), 2);
    assert_eq!(
        request_body(&from_mapping.valid, None),
        request_body(&loaded.valid, None)
    );
}

#[test]
fn yaml_and_csv_of_the_same_authorizer_send_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let yaml_path = private_file(dir.path(), "a.yaml", yaml_item("A-1").as_bytes());
    let csv_text = format!("{HEADER}\n{}\n", csv_row("A-1", "11/23/1947"));
    let csv_path = private_file(dir.path(), "a.csv", csv_text.as_bytes());
    let from_yaml = load_file(&yaml_path).unwrap();
    let from_csv = load_file(&csv_path).unwrap();
    assert_eq!(from_yaml.valid.len(), 1);
    assert_eq!(
        request_body(&from_yaml.valid, Some("https://hooks.example/x")),
        request_body(&from_csv.valid, Some("https://hooks.example/x"))
    );
}

#[test]
fn yaml_items_are_normalised_and_typos_warned_about() {
    let text = format!(
        "{}  rounting_number: x\n  zip_code: \"{ZIP}\"\n  ein: null\n  cvv: \"\"\n  date_of_birth: {{day: \"23\", month: 011, year: {DOB_YEAR}}}\n",
        yaml_item("A-1").replace(
            &format!("  date_of_birth: {{day: 23, month: 11, year: {DOB_YEAR}}}\n"),
            ""
        )
    );
    let items: Vec<serde_saphyr::Spanned<Value>> =
        yaml::from_str(&text, Path::new("c.yaml")).unwrap();
    let loaded = load_inline(Path::new("c.yaml"), items).unwrap();
    assert_eq!(loaded.valid.len(), 1, "{:?}", loaded.rejected);
    assert_eq!(
        loaded.warnings,
        [
            "c.yaml:1:3: unknown key `rounting_number`, did you mean `routing_number`? (ignored)",
            "c.yaml:1:3: unknown key `zip_code`, it belongs under `address` (ignored)",
        ]
    );
    let body: Value = serde_json::from_slice(&request_body(&loaded.valid, None)).unwrap();
    let object = body["authorizers"][0].as_object().unwrap();
    assert_eq!(
        object["date_of_birth"],
        json!({"day": 23, "month": 11, "year": 1947})
    );
    for dropped in ["rounting_number", "zip_code", "ein", "cvv"] {
        assert!(!object.contains_key(dropped), "{dropped}");
    }
}

#[test]
fn yaml_unquoted_numbers_are_rejected_with_a_hint_to_quote_them() {
    let text = yaml_item("A-1").replace(&format!("ssn: {SSN}"), &format!("ssn: {SSN_DIGITS}"));
    let items = yaml::from_str(&text, Path::new("c.yaml")).unwrap();
    let loaded = load_inline(Path::new("c.yaml"), items).unwrap();
    assert!(loaded.valid.is_empty());
    assert_eq!(
        loaded.rejected[0].to_string(),
        "c.yaml:1:3: authorizer `A-1` rejected: SSN must be of type string for authorizer(s)."
    );
    assert_eq!(
        loaded.warnings,
        ["c.yaml:1:3: `ssn` is not a string; write it in quotes"]
    );
}

/// Issue 15: a YAML authorizers file that is not UTF-8 names the first bad byte's
/// line, column and offset, and none of the file's text.
#[test]
fn a_yaml_file_that_is_not_utf8_names_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = yaml_item("A-1").into_bytes();
    let offset = text.len();
    text.extend_from_slice(b"- authorizer_unique_id: A-\xe92\n");
    let path = private_file(dir.path(), "latin.yaml", &text);
    let line = 1 + text[..offset].iter().filter(|b| **b == b'\n').count();
    let error = load_file(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}:{line}:27: the file is not valid UTF-8 (byte offset {})",
            path.display(),
            offset + 26
        )
    );
    assert_no_personal_value(&error);
}

#[test]
fn yaml_shape_errors_name_file_line_and_column_but_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}- {SSN}\n", yaml_item("A-1"));
    let path = private_file(dir.path(), "list.yaml", text.as_bytes());
    let error = load_file(&path).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::Item {
                line: 15,
                column: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}:15:3: an authorizers list item must be a mapping",
            path.display()
        )
    );
    assert_no_personal_value(&format!("{error:?}"));

    let text = format!("{}  metadata: [{CITY}]\n", yaml_item("A-1"));
    let path = private_file(dir.path(), "meta.yaml", text.as_bytes());
    let error = load_file(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with(":1:3: `metadata` must be a mapping of names to values")
    );

    for (name, text) in [
        ("scalar.yaml", SSN.to_string()),
        ("key.yaml", format!("authorizers: {SSN}\n")),
        ("other.yaml", format!("people:\n{}", yaml_item("A-1"))),
        ("missing.yaml", "{}\n".to_string()),
    ] {
        let path = private_file(dir.path(), name, text.as_bytes());
        let error = load_file(&path).unwrap_err();
        assert!(matches!(error, LoadError::Yaml(_)), "{name}: {error:?}");
        let shown = format!("{error} {error:?}");
        assert!(shown.contains(name), "{shown}");
        assert_no_personal_value(&shown);
    }
    let path = private_file(dir.path(), "other2.yaml", b"people: []\n");
    let error = load_file(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}:1:1: people: unknown key `people` (expected only: authorizers)",
            path.display()
        )
    );
    let path = private_file(dir.path(), "key2.yaml", b"authorizers: x\n");
    let error = load_file(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}:1:14: authorizers: found a string, expected a list of authorizers",
            path.display()
        )
    );
}

#[test]
fn unsupported_extensions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = private_file(dir.path(), "list.json", b"[]");
    let error = load_file(&path).unwrap_err();
    assert!(matches!(error, LoadError::UnsupportedExtension { .. }));
    assert!(
        error
            .to_string()
            .ends_with("list.json has an unsupported extension; use .csv, .yaml or .yml")
    );
}

// ---------------------------------------------------------------------------------
// Permissions

#[test]
fn files_readable_by_group_or_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!("{HEADER}\n{}\n", csv_row("A-1", "11/23/1947"));
    for mode in [0o644, 0o640, 0o604] {
        for name in ["a.csv", "a.yaml"] {
            let path = write_file(dir.path(), name, csv.as_bytes(), mode);
            let message = check_private(&path).unwrap_err().to_string();
            let expected = format!(
                "file {0} is readable by group or others (mode {mode:04o}); it holds personal data, run chmod 600 {0}",
                path.display()
            );
            assert_eq!(message, expected);
            let error = load_file(&path).unwrap_err();
            assert!(matches!(error, LoadError::Permission(_)), "{error:?}");
            assert_eq!(error.to_string(), format!("authorizers {expected}"));
        }
    }
    let path = write_file(dir.path(), "a.csv", csv.as_bytes(), 0o600);
    check_private(&path).unwrap();
    assert_eq!(load_file(&path).unwrap().valid.len(), 1);
}

/// Regression (issue 15): a directory given as an authorizers file was reported as
/// "readable by group or others"; a FIFO hung the loader. Both are named for what they
/// are, and a file that others can read is still refused by the permission rule.
#[test]
fn a_directory_or_a_fifo_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("list.csv");
    std::fs::create_dir(&directory).unwrap();
    let fifo = dir.path().join("list.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, kind) in [(&directory, "a directory"), (&fifo, "a named pipe (FIFO)")] {
        let error = load_file(path).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("authorizers file {} is {kind}, not a file", path.display())
        );
    }
}

#[test]
fn a_missing_file_is_a_read_error() {
    let error = load_file(Path::new("/nonexistent/list.csv")).unwrap_err();
    assert!(matches!(error, LoadError::Read { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot read authorizers file /nonexistent/list.csv: ")
    );
}

// ---------------------------------------------------------------------------------
// The request body

#[test]
fn the_request_body_is_deterministic_sorted_and_free_of_metadata() {
    let text = format!(
        "{HEADER},meta_payment_amount\n{},125.50\n{},99.00\n",
        csv_row("A-1", "11/23/1947"),
        csv_row("B-2", "11/23/1947"),
    );
    let chunk = parse(&text).valid;
    let first = request_body(&chunk, Some("https://hooks.example/x"));
    for _ in 0..3 {
        assert_eq!(request_body(&chunk, Some("https://hooks.example/x")), first);
        assert_eq!(
            request_body(&chunk.clone(), Some("https://hooks.example/x")),
            first
        );
    }
    let body = String::from_utf8(first).unwrap();
    assert!(
        !body.contains("payment_amount") && !body.contains("125.50"),
        "{body}"
    );
    // Keys are sorted, whatever order the source wrote them in, so a reload of the
    // same list gives the same bytes.
    let value: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&String> = value["authorizers"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(body.find("\"account_number\"").unwrap() < body.find("\"ssn\"").unwrap());
}

// ---------------------------------------------------------------------------------
// Privacy

#[test]
fn no_debug_display_or_warning_shows_a_personal_value() {
    let dir = tempfile::tempdir().unwrap();
    // A CSV with a valid row, an invalid row, a duplicate pair, a bad date, a Latin-1
    // byte and unknown columns.
    let mut csv = format!(
        "{HEADER},meta_ref,{SSN_DIGITS}\n{},R1,x\n{},R2,x\n{},R3,x\n{},R4,x\n",
        csv_row("A-1", "11/23/1947"),
        csv_row("B-2", "11/23/1947").replace(PHONE, "55586713"),
        csv_row("C-3", "11/23/1947"),
        csv_row("C-3", "02/30/1947"),
    )
    .into_bytes();
    csv.extend_from_slice(b"D-4,\xC9mile,");
    csv.extend_from_slice(
        csv_row("", "11/23/1947")
            .trim_start_matches(&format!(",{FIRST},"))
            .as_bytes(),
    );
    csv.extend_from_slice(b",R5,x\n");
    let csv_path = private_file(dir.path(), "list.csv", &csv);
    let yaml = format!(
        "{}{}  debit_card_number: \"{CARD}\"\n  cvv: \"{CVV}\"\n  ein: \"{EIN}\"\n{}  phone_number: 5558671309\n",
        yaml_item("Y-1"),
        yaml_item("Y-2"),
        yaml_item("Y-3").replace(&format!("  phone_number: \"{PHONE}\"\n"), ""),
    );
    let yaml_path = private_file(dir.path(), "list.yaml", yaml.as_bytes());

    let mut shown = String::new();
    let mut count = (0, 0);
    for path in [&csv_path, &yaml_path] {
        let loaded = load_file(path).unwrap();
        count.0 += loaded.valid.len();
        count.1 += loaded.rejected.len();
        shown.push_str(&format!("{loaded:?}\n{loaded:#?}\n"));
        for authorizer in &loaded.valid {
            shown.push_str(&format!(
                "{authorizer:?} {authorizer:#?} {:?}\n",
                authorizer.origin()
            ));
        }
        for rejected in &loaded.rejected {
            shown.push_str(&format!("{rejected} {rejected:?} {:?}\n", rejected.error));
        }
        for warning in &loaded.warnings {
            shown.push_str(warning);
        }
    }
    // The loads above did load the personal data (so the test can fail).
    assert_eq!(count, (3, 5), "{shown}");
    assert!(
        shown.contains("decoded as Latin-1") && shown.contains("date_of_birth"),
        "{shown}"
    );
    assert_no_personal_value(&shown);
    // Every load error, too.
    for (name, contents, mode) in [
        ("open.csv", csv.clone(), 0o644),
        (
            "short.csv",
            format!("{HEADER}\n{SSN},{ACCOUNT}\n").into_bytes(),
            0o600,
        ),
        (
            "headerless.csv",
            format!("{}\n", csv_row("A-1", "11/23/1947")).into_bytes(),
            0o600,
        ),
        ("item.yaml", format!("- {SSN}\n").into_bytes(), 0o600),
        ("scalar.yaml", format!("{ACCOUNT}\n").into_bytes(), 0o600),
        ("list.txt", csv.clone(), 0o600),
    ] {
        let path = write_file(dir.path(), name, &contents, mode);
        let error = load_file(&path).unwrap_err();
        assert_no_personal_value(&format!("{error} {error:?} {error:#?}"));
    }
}
