//! Reading an import file: CSV or TXT with any common delimiter, or the first sheet of an XLSX
//! workbook; a header row whose column names are matched case-insensitively with the usual
//! aliases ("First Name", "first_name", "firstname"…).
//!
//! What makes the whole file unusable (not text, not a workbook, a missing or unknown column,
//! more than [`MAX_ROWS`] rows) is an error naming the problem; what is wrong with one row (a
//! formula, a spreadsheet error, more values than columns) becomes that row's problem, and the
//! other rows still count. Empty lines are skipped; rows keep the number a spreadsheet shows.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use domain::import::{Format, MAX_ROWS, Problem};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// A column the importer knows, as named in JSON rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Column {
    Username,
    Email,
    FirstName,
    LastName,
    Phone,
    Mobile,
    OfficePhone,
    Fax,
    OutboundCallerId,
    Extension,
    Title,
    CustomerCode,
    Udid,
    ServiceLevel,
    Password,
    PasswordHash,
}

/// Every column, and the header names (lowercase, without spaces, `_`, `-` or `.`) that mean it.
const COLUMNS: [(Column, &str, &[&str]); 16] = [
    (Column::Username, "username", &["username", "user", "login", "loginname", "userid"]),
    (Column::Email, "email", &["email", "emailaddress", "mail", "mailaddress"]),
    (Column::FirstName, "firstName", &["firstname", "first", "givenname", "forename"]),
    (Column::LastName, "lastName", &["lastname", "last", "surname", "familyname"]),
    (Column::Phone, "phone", &["phone", "phonenumber", "telephone", "tel"]),
    (Column::Mobile, "mobile", &["mobile", "mobilenumber", "mobilephone", "cell", "cellphone"]),
    (Column::OfficePhone, "officePhone", &["officephone", "office", "workphone"]),
    (Column::Fax, "fax", &["fax", "faxnumber"]),
    (Column::OutboundCallerId, "outboundCallerId", &["outboundcallerid", "callerid"]),
    (Column::Extension, "extension", &["extension", "ext"]),
    (Column::Title, "title", &["title", "jobtitle"]),
    (Column::CustomerCode, "customerCode", &["customercode", "uniquecustomercode"]),
    (Column::Udid, "udid", &["udid", "deviceid"]),
    (Column::ServiceLevel, "serviceLevel", &["servicelevel"]),
    (Column::Password, "password", &["password"]),
    (Column::PasswordHash, "passwordHash", &["passwordhash", "hash"]),
];

/// Columns every file must have.
const REQUIRED: [Column; 4] = [Column::Username, Column::Email, Column::FirstName, Column::LastName];

impl Column {
    /// The column's name in JSON rows and in row problems.
    pub fn name(self) -> &'static str {
        COLUMNS.iter().find(|(column, _, _)| *column == self).map_or("", |(_, name, _)| name)
    }

    fn of_header(header: &str) -> Option<Column> {
        let key: String = header
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
            .flat_map(char::to_lowercase)
            .collect();
        COLUMNS.iter().find(|(_, _, aliases)| aliases.contains(&key.as_str())).map(|(column, _, _)| *column)
    }
}

/// One row of the file: its number as a spreadsheet shows it, its non-empty values, and what
/// is wrong with it already.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub number: u32,
    pub values: BTreeMap<Column, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

impl Row {
    pub fn get(&self, column: Column) -> Option<&str> {
        self.values.get(&column).map(String::as_str)
    }

    pub fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem { field: field.to_owned(), message: message.into() });
    }
}

/// What kind of file `name` and `content_type` say this is.
pub fn format_of(
    file_name: Option<&str>,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Format, ApiError> {
    let extension = file_name.and_then(|name| name.rsplit_once('.')).map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("csv") => return Ok(Format::Csv),
        Some("txt" | "tsv") => return Ok(Format::Txt),
        Some("xlsx") => return Ok(Format::Xlsx),
        Some("xls") => {
            return Err(ApiError::invalid_field(
                "file",
                "old .xls workbooks are not read: save the sheet as .xlsx or .csv",
            ));
        }
        _ => {}
    }
    let content_type = content_type.unwrap_or_default();
    if content_type.contains("spreadsheetml") || bytes.starts_with(b"PK\x03\x04") {
        Ok(Format::Xlsx)
    } else if content_type.starts_with("text/csv") {
        Ok(Format::Csv)
    } else {
        Ok(Format::Txt)
    }
}

/// The rows of a file of `format`.
pub fn read(format: Format, bytes: &[u8]) -> Result<Vec<Row>, ApiError> {
    let table = match format {
        Format::Xlsx => xlsx_table(bytes)?,
        Format::Csv | Format::Txt => text_table(&decode(bytes)?)?,
        Format::Json => return Err(ApiError::invalid_field("file", "JSON rows are not a file")),
    };
    rows_of(table)
}

/// A cell as read: its text, or what makes it unusable.
enum Cell {
    Text(String),
    Unusable(String),
}

/// The header cells and each data line (its number and cells), empty lines left out.
struct Table {
    header: Vec<String>,
    lines: Vec<(u32, Vec<Cell>)>,
}

fn rows_of(table: Table) -> Result<Vec<Row>, ApiError> {
    let columns = header_columns(&table.header)?;
    if table.lines.len() > MAX_ROWS as usize {
        return Err(ApiError::Refused {
            code: "too_many_rows",
            message: format!(
                "the file has {} rows; an import holds at most {MAX_ROWS}: split it into several files",
                table.lines.len()
            ),
            details: Some(serde_json::json!({ "rows": table.lines.len(), "limit": MAX_ROWS })),
        });
    }
    let mut rows = Vec::with_capacity(table.lines.len());
    for (number, cells) in table.lines {
        let mut row = Row { number, ..Row::default() };
        if cells.len() > columns.len() {
            row.problem(
                "row",
                format!("has {} values but the header has {} columns", cells.len(), columns.len()),
            );
        }
        for (column, cell) in columns.iter().zip(cells) {
            match cell {
                Cell::Text(text) if text.starts_with('=') => row
                    .problem(column.name(), "holds a spreadsheet formula: put the value itself in the file"),
                Cell::Text(text) if text.is_empty() => {}
                Cell::Text(text) => {
                    row.values.insert(*column, text);
                }
                Cell::Unusable(why) => row.problem(column.name(), why),
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ApiError::invalid_field("file", "holds a header but no rows to import"));
    }
    Ok(rows)
}

/// The column of each header cell; every required one present, none unknown or twice.
fn header_columns(header: &[String]) -> Result<Vec<Column>, ApiError> {
    let known = || COLUMNS.iter().map(|(_, name, _)| *name).collect::<Vec<_>>().join(", ");
    let mut columns = Vec::with_capacity(header.len());
    for (index, name) in header.iter().enumerate() {
        let Some(column) = Column::of_header(name) else {
            return Err(ApiError::invalid_field(
                "file",
                format!(
                    "column {} of the header, {name:?}, is not one the import knows; the columns are: {}",
                    index + 1,
                    known()
                ),
            ));
        };
        if columns.contains(&column) {
            return Err(ApiError::invalid_field(
                "file",
                format!("the header has two {} columns (column {} is the second)", column.name(), index + 1),
            ));
        }
        columns.push(column);
    }
    let missing: Vec<&str> =
        REQUIRED.iter().filter(|column| !columns.contains(column)).map(|column| column.name()).collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid_field(
            "file",
            format!(
                "the header has no {} column{} (the first row must name the columns, e.g. username, email, firstName, lastName)",
                missing.join(", "),
                if missing.len() > 1 { "s" } else { "" }
            ),
        ));
    }
    Ok(columns)
}

/// The text of a CSV or TXT file: UTF-8 (a byte-order mark is dropped) or UTF-16 with its
/// byte-order mark (Excel's "Unicode text").
fn decode(bytes: &[u8]) -> Result<String, ApiError> {
    let utf16 = |bytes: &[u8], from: fn([u8; 2]) -> u16| -> Result<String, ApiError> {
        let units: Vec<u16> = bytes.chunks_exact(2).map(|pair| from([pair[0], pair[1]])).collect();
        String::from_utf16(&units).map_err(|_| ApiError::invalid_field("file", "is not valid UTF-16 text"))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(error) => {
            let line = bytes[..error.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            Err(ApiError::invalid_field(
                "file",
                format!(
                    "is not UTF-8 text: line {line} holds bytes that are not (save the file as CSV UTF-8, or as Unicode text)"
                ),
            ))
        }
    }
}

/// The delimiter the header line uses most among the common ones (a single column has none).
fn delimiter_of(text: &str) -> u8 {
    let header = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|delimiter| header.bytes().filter(|b| b == delimiter).count())
        .filter(|delimiter| header.as_bytes().contains(delimiter))
        .unwrap_or(b',')
}

fn text_table(text: &str) -> Result<Table, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter_of(text))
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut header = None;
    let mut lines = Vec::new();
    // The line a record starts on: 1 plus the line breaks before its first byte.
    let (mut line, mut counted) = (1usize, 0usize);
    for record in reader.records() {
        let record = record.map_err(|error| {
            let line = error.position().map_or(0, csv::Position::line);
            ApiError::invalid_field("file", format!("line {line} cannot be read as delimited text: {error}"))
        })?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A record's position is where the reader began it, before the empty lines it skipped.
        let mut start = record.position().map_or(0, |position| usize::try_from(position.byte()).unwrap_or(0));
        while matches!(text.as_bytes().get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        if let Some(skipped) = text.as_bytes().get(counted..start) {
            line += skipped.iter().filter(|b| **b == b'\n').count();
            counted = start;
        }
        let number = u32::try_from(line).unwrap_or(u32::MAX);
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        if header.is_none() {
            header = Some(cells);
        } else {
            lines.push((number, cells.into_iter().map(Cell::Text).collect()));
        }
    }
    let header = header.ok_or_else(|| ApiError::invalid_field("file", "is empty"))?;
    Ok(Table { header, lines })
}

fn xlsx_table(bytes: &[u8]) -> Result<Table, ApiError> {
    let unreadable = |error: calamine::XlsxError| {
        ApiError::invalid_field("file", format!("cannot be read as an .xlsx workbook: {error}"))
    };
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| ApiError::invalid_field("file", "the workbook has no sheet"))?;
    let values = workbook.worksheet_range(&sheet).map_err(unreadable)?;
    let formulas = workbook.worksheet_formula(&sheet).map_err(unreadable)?;
    let formula_at = |row: u32, column: u32| {
        formulas.get_value((row, column)).is_some_and(|formula: &String| !formula.is_empty())
    };
    let Some((first_row, first_column)) = values.start() else {
        return Err(ApiError::invalid_field("file", "the first sheet is empty"));
    };
    let mut header = None;
    let mut lines = Vec::new();
    for (index, cells) in values.rows().enumerate() {
        let row = first_row + u32::try_from(index).unwrap_or(u32::MAX);
        let cells: Vec<Cell> = cells
            .iter()
            .enumerate()
            .map(|(offset, data)| {
                let column = first_column + u32::try_from(offset).unwrap_or(u32::MAX);
                if formula_at(row, column) {
                    Cell::Unusable(
                        "holds a spreadsheet formula: put the value itself in the sheet".to_owned(),
                    )
                } else {
                    cell_of(data)
                }
            })
            .collect();
        // Trailing empty cells are not values (a sheet's used range is as wide as its widest row).
        let last = cells.iter().rposition(|cell| !matches!(cell, Cell::Text(text) if text.is_empty()));
        let Some(last) = last else { continue };
        let mut cells = cells;
        cells.truncate(last + 1);
        if header.is_none() {
            header = Some(
                cells
                    .into_iter()
                    .map(|cell| if let Cell::Text(text) = cell { text } else { String::new() })
                    .collect(),
            );
        } else {
            lines.push((row + 1, cells));
        }
    }
    let header = header.ok_or_else(|| ApiError::invalid_field("file", "the first sheet is empty"))?;
    Ok(Table { header, lines })
}

fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Text(String::new()),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => {
            Cell::Text(text.trim().to_owned())
        }
        Data::Int(number) => Cell::Text(number.to_string()),
        // A number typed into a cell (a phone number, an extension) is a whole number.
        Data::Float(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
            Cell::Text(format!("{number:.0}"))
        }
        Data::Float(number) => Cell::Text(number.to_string()),
        Data::Bool(value) => Cell::Text(value.to_string()),
        Data::DateTime(value) => Cell::Text(value.to_string()),
        Data::Error(error) => Cell::Unusable(format!("holds a spreadsheet error ({error})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(row: &Row) -> Vec<(&str, &str)> {
        row.problems.iter().map(|p| (p.field.as_str(), p.message.as_str())).collect()
    }

    fn message(result: Result<Vec<Row>, ApiError>) -> String {
        match result {
            Ok(rows) => panic!("expected an error, read {rows:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn header_aliases_and_delimiters_are_recognised() {
        for (delimiter, header) in [
            (",", "User Name,E-mail,First Name,Last Name,Mobile Number"),
            (";", "username;email;first_name;last_name;mobile"),
            ("\t", "USERNAME\tEmail Address\tFirstName\tSurname\tcell"),
            ("|", "login|mail|given name|family name|Mobile Phone"),
        ] {
            let text = format!(
                "{header}\nalice{delimiter}alice@example.com{delimiter}Alice{delimiter}Doe{delimiter}+447700900123\n"
            );
            let rows = read(Format::Txt, text.as_bytes()).expect(header);
            assert_eq!(rows.len(), 1, "{header}");
            assert_eq!(rows[0].number, 2);
            assert_eq!(rows[0].get(Column::Username), Some("alice"), "{header}");
            assert_eq!(rows[0].get(Column::LastName), Some("Doe"), "{header}");
            assert_eq!(rows[0].get(Column::Mobile), Some("+447700900123"), "{header}");
        }
    }

    #[test]
    fn empty_lines_are_skipped_and_rows_keep_their_line_numbers() {
        let text = "username,email,firstName,lastName\n\nalice,a@example.com,Alice,Doe\n,,,\nbob,b@example.com,Bob,Roe\n\r\n\n\
                    carl,c@example.com,\"Carl\nWith a break\",Doe\ndee,d@example.com,Dee,Doe\n";
        let rows = read(Format::Csv, text.as_bytes()).expect("read");
        assert_eq!(rows.iter().map(|r| r.number).collect::<Vec<_>>(), vec![3, 5, 8, 10]);
    }

    #[test]
    fn a_byte_order_mark_and_utf16_are_read_but_latin1_is_refused_with_its_line() {
        let text = "username,email,firstName,lastName\nzoe,z@example.com,Zoë,Doe\n";
        let bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        assert_eq!(read(Format::Csv, &bom).expect("bom")[0].get(Column::FirstName), Some("Zoë"));
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(read(Format::Txt, &utf16).expect("utf-16")[0].get(Column::FirstName), Some("Zoë"));
        let latin1: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
        let error = message(read(Format::Csv, &latin1));
        assert!(error.contains("is not UTF-8 text: line 2"), "{error}");
    }

    #[test]
    fn a_missing_unknown_or_repeated_column_refuses_the_file() {
        let error = message(read(Format::Csv, b"username,firstName,lastName\nal,Al,Doe\n"));
        assert!(error.contains("the header has no email column"), "{error}");
        let error = message(read(Format::Csv, b"username,email,Frist Name,lastName\nal,a@x.io,Al,Doe\n"));
        assert!(
            error.contains("column 3 of the header, \"Frist Name\", is not one the import knows"),
            "{error}"
        );
        let error = message(read(Format::Csv, b"username,email,first name,first_name,lastName\n"));
        assert!(error.contains("two firstName columns"), "{error}");
        let error = message(read(Format::Csv, b"username,email,firstName,lastName\n\n"));
        assert!(error.contains("no rows"), "{error}");
    }

    #[test]
    fn formulas_and_extra_values_are_the_rows_problems() {
        let text = "username,email,firstName,lastName\nal,a@x.io,=HYPERLINK(\"http://evil\"),Doe\nbo,b@x.io,Bo,Roe,extra\n";
        let rows = read(Format::Csv, text.as_bytes()).expect("read");
        assert_eq!(
            problems_of(&rows[0]),
            vec![("firstName", "holds a spreadsheet formula: put the value itself in the file")]
        );
        assert_eq!(problems_of(&rows[1]), vec![("row", "has 5 values but the header has 4 columns")]);
    }

    #[test]
    fn more_than_5000_rows_are_refused_up_front() {
        let mut text = String::from("username,email,firstName,lastName\n");
        for n in 0..5001 {
            text.push_str(&format!("user{n},u{n}@example.com,U,N\n"));
        }
        let error = message(read(Format::Csv, text.as_bytes()));
        assert!(error.contains("the file has 5001 rows; an import holds at most 5000"), "{error}");
    }

    #[test]
    fn the_format_comes_from_the_name_then_the_type_then_the_bytes() {
        assert_eq!(format_of(Some("staff.CSV"), None, b"").expect("csv"), Format::Csv);
        assert_eq!(format_of(Some("staff.txt"), None, b"").expect("txt"), Format::Txt);
        assert_eq!(format_of(None, None, b"PK\x03\x04rest").expect("zip"), Format::Xlsx);
        assert!(format_of(Some("old.xls"), None, b"").is_err());
    }
}
