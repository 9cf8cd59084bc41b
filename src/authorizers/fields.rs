//! The names of an authorizer's fields in Rightfoot's `Authorizer` schema, once.
//!
//! [`CSV_COLUMNS`] is the list: the schema's fields flattened in the order of
//! Rightfoot's CSV upload (the address fields in the middle, the date of birth as one
//! column). Everything else is read off it: the [`ADDRESS`] fields, the top-level keys
//! of a YAML or JSON item ([`item_keys`]) and which of them the schema types as strings
//! ([`is_string_typed`]). The CSV loader, the YAML loader and the sandbox's CSV upload
//! use these. This module holds names only: no values, no validation.

/// The columns of Rightfoot's CSV upload, in its order. `date_of_birth` may also be
/// written `date_of_birth (MM/DD/YYYY)`, as Rightfoot's documentation labels it.
pub const CSV_COLUMNS: [&str; 19] = [
    "authorizer_unique_id",
    "first_name",
    "last_name",
    "street_address_line1",
    "street_address_line2",
    "city",
    "state",
    "zip_code",
    "country",
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

/// The fields under `address` in the JSON shape: columns 4 to 9 of the CSV.
pub const ADDRESS: &[&str] = CSV_COLUMNS.split_at(3).1.split_at(6).0;

/// The keys of the `date_of_birth` object in the JSON shape.
pub const DATE_OF_BIRTH: [&str; 3] = ["day", "month", "year"];

/// The top-level fields the schema types as integers.
pub const INTEGERS: [&str; 2] = ["expiration_month", "expiration_year"];

/// The keys of the `address` object, the `date_of_birth` object and `metadata`.
const OBJECTS: [&str; 3] = ["address", "date_of_birth", "metadata"];

/// The top-level keys of an authorizer in the JSON (and YAML) shape: the columns that
/// are not address fields, `address` in their place, and `metadata`.
pub fn item_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::with_capacity(CSV_COLUMNS.len());
    for column in CSV_COLUMNS {
        if column == ADDRESS[0] {
            keys.push("address");
        } else if !ADDRESS.contains(&column) {
            keys.push(column);
        }
    }
    keys.push("metadata");
    keys
}

/// Whether the schema types this top-level key as a string.
pub fn is_string_typed(key: &str) -> bool {
    CSV_COLUMNS.contains(&key)
        && !ADDRESS.contains(&key)
        && !INTEGERS.contains(&key)
        && !OBJECTS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_read_off_the_one_list() {
        assert_eq!(ADDRESS.len(), 6);
        assert_eq!(ADDRESS.first(), Some(&"street_address_line1"));
        assert_eq!(ADDRESS.last(), Some(&"country"));

        let keys = item_keys();
        assert_eq!(
            keys[..5],
            [
                "authorizer_unique_id",
                "first_name",
                "last_name",
                "address",
                "phone_number"
            ]
        );
        assert_eq!(keys.last(), Some(&"metadata"));
        assert_eq!(keys.len(), CSV_COLUMNS.len() - ADDRESS.len() + 2);

        let strings: Vec<&str> = keys.into_iter().filter(|k| is_string_typed(k)).collect();
        assert_eq!(strings.len(), 10, "{strings:?}");
        for not_a_string in [
            "address",
            "date_of_birth",
            "metadata",
            "expiration_month",
            "zip_code",
        ] {
            assert!(!strings.contains(&not_a_string), "{not_a_string}");
        }
    }
}
