//! Python objects as SpERT records and back: a record is a `dict` (the keys SpERT's JSON has,
//! any others kept) or a list of token strings; results are `dict`s with the keys in the order
//! the CLI writes them, so `json.dumps(result, indent=2, ensure_ascii=False)` is the CLI's text.

use std::path::Path;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::{Map, Number, Value};

use super::dataset::Problem;
use super::errors::data_error;
use crate::data::record::parse_record;
use crate::data::{DataError, ErrorKind, Place, Sentence};

/// Stands for the file in errors about records passed in memory; never shown.
const IN_MEMORY: &str = "<records>";

/// The sentences of `records` (a sequence of dicts or of token lists), checked as a dataset's
/// records are: every problem of every record is raised at once as one `DataError`.
pub fn sentences(py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Vec<Sentence>> {
    if records.is_instance_of::<PyString>() || records.is_instance_of::<PyDict>() {
        return Err(PyValueError::new_err(
            "expected a list of records (dicts) or of token lists; to predict one sentence, \
             pass [record] or [tokens]",
        ));
    }
    let file = Path::new(IN_MEMORY);
    let mut sentences = Vec::new();
    let mut problems = Vec::new();
    for (index, item) in records.try_iter()?.enumerate() {
        let item = item?;
        let value = match record_value(&item) {
            Ok(value) => value,
            Err(reason) => {
                let place = Place::Record { index, line: None, part: None };
                let err = DataError::new(file, place, ErrorKind::Structure, reason);
                problems.push(Problem::in_memory(&err));
                continue;
            }
        };
        match parse_record(file, index, &value) {
            Ok(sentence) => sentences.push(sentence),
            Err(found) => problems.extend(found.iter().map(Problem::in_memory)),
        }
    }
    if problems.is_empty() {
        Ok(sentences)
    } else {
        Err(data_error(py, problems))
    }
}

/// One record as JSON: a dict as it is, a token list as `{"tokens": [...]}`.
fn record_value(item: &Bound<'_, PyAny>) -> Result<Value, String> {
    if item.is_instance_of::<PyDict>() {
        return json_value(item);
    }
    if item.is_instance_of::<PyString>() {
        return Err("a record must be a dict or a list of token strings, found a str \
                    (split the text into tokens first)"
            .into());
    }
    match item.try_iter() {
        Ok(tokens) => {
            let tokens = tokens
                .map(|token| token.map_err(|e| e.to_string()).and_then(|t| json_value(&t)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut record = Map::new();
            record.insert("tokens".into(), Value::Array(tokens));
            Ok(Value::Object(record))
        }
        Err(_) => Err(format!(
            "a record must be a dict or a list of token strings, found {}",
            type_name(item)
        )),
    }
}

/// A Python value as JSON: dicts with str keys, lists, tuples and other iterables (numpy and
/// Arrow arrays), str, int, float, bool, None.
pub fn json_value(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if obj.is_instance_of::<PyBool>() {
        Ok(Value::Bool(obj.extract::<bool>().map_err(|e| e.to_string())?))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(s.to_cow().map_err(|e| e.to_string())?.into_owned()))
    } else if obj.is_instance_of::<PyInt>() {
        integer(obj)
    } else if obj.is_instance_of::<PyFloat>() {
        float(obj)
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(format!("dict keys must be str, found {}", type_name(&key)));
            };
            map.insert(key.to_string(), json_value(&value)?);
        }
        Ok(Value::Object(map))
    } else if let Ok(iter) = obj.try_iter() {
        let items = iter
            .map(|item| item.map_err(|e| e.to_string()).and_then(|i| json_value(&i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Array(items))
    } else if obj.hasattr("__index__").unwrap_or(false) {
        // numpy integers are not Python ints but index like them.
        integer(obj)
    } else if obj.hasattr("__float__").unwrap_or(false) {
        float(obj)
    } else {
        Err(format!("{} cannot be part of a SpERT record", type_name(obj)))
    }
}

fn integer(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    if let Ok(n) = obj.extract::<i64>() {
        Ok(Value::from(n))
    } else if let Ok(n) = obj.extract::<u64>() {
        Ok(Value::from(n))
    } else {
        Err(format!("the integer {obj} is too large"))
    }
}

fn float(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    let x = obj.extract::<f64>().map_err(|e| e.to_string())?;
    Number::from_f64(x).map(Value::Number).ok_or_else(|| format!("{x} is not a JSON number"))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
}

/// JSON as Python objects; object keys keep their order.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items.iter().map(|v| to_python(py, v)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, value) in map {
                dict.set_item(key, to_python(py, value)?)?;
            }
            dict.into_any()
        }
    })
}

/// A span given as `(start, end)`, checked against a sentence of `words` words.
pub fn span(span: &Bound<'_, PyAny>, words: usize) -> PyResult<(usize, usize)> {
    let bounds: Vec<usize> = span.extract().unwrap_or_default();
    let [start, end] = bounds[..] else {
        return Err(PyValueError::new_err(
            "span must be (start, end): word indices, end exclusive",
        ));
    };
    if start >= end {
        return Err(PyValueError::new_err(format!(
            "span ({start}, {end}): start must be less than end (end is exclusive)"
        )));
    }
    if end > words {
        return Err(PyValueError::new_err(format!(
            "span ({start}, {end}): the sentence has {words} words (indices 0..{words})"
        )));
    }
    Ok((start, end))
}
