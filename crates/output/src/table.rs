//! The `table!` macro: one declaration gives a row struct, a schema and a builder.

/// Declares a table. Column kinds: `Str`, `OptStr`, `I64`, `OptI64`, `U32`, `OptU32`, `U16`,
/// `OptU16`, `U8`, `OptU8`, `Bool`, `OptBool`, `Ts`, `OptTs` (nanoseconds since the epoch, UTC).
macro_rules! table {
    (
        $(#[$rm:meta])* row $row:ident, builder $builder:ident, name $tname:literal {
            $( $(#[$fm:meta])* $field:ident : $kind:ident ),* $(,)?
        }
    ) => {
        $(#[$rm])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $row {
            $( $(#[$fm])* pub $field: table!(@ty $kind), )*
        }

        #[doc = concat!("Arrow builders for the `", $tname, "` table.")]
        #[derive(Debug)]
        pub struct $builder {
            len: usize,
            $( $field: table!(@builder $kind), )*
        }

        impl Default for $builder {
            fn default() -> Self {
                $builder { len: 0, $( $field: table!(@new $kind), )* }
            }
        }

        impl $builder {
            /// The table's directory name.
            pub const NAME: &'static str = $tname;

            /// The Arrow schema of this table.
            pub fn schema() -> ::arrow_schema::SchemaRef {
                ::std::sync::Arc::new(::arrow_schema::Schema::new(vec![
                    $( ::arrow_schema::Field::new(
                        stringify!($field),
                        table!(@dtype $kind),
                        table!(@nullable $kind),
                    ), )*
                ]))
            }

            /// Append one row.
            pub fn append(&mut self, r: &$row) {
                self.len += 1;
                $( table!(@append $kind, self.$field, r.$field); )*
            }

            /// Rows appended since the last `finish`.
            pub fn len(&self) -> usize {
                self.len
            }

            /// No rows pending.
            pub fn is_empty(&self) -> bool {
                self.len == 0
            }

            /// Take the pending rows as a record batch (the builder is reset).
            pub fn finish(&mut self) -> ::arrow_array::RecordBatch {
                self.len = 0;
                let columns: Vec<::arrow_array::ArrayRef> = vec![
                    $( ::std::sync::Arc::new(self.$field.finish()), )*
                ];
                // The arrays were built to this schema, column by column, with equal lengths,
                // so construction cannot fail; an empty batch is the safe fallback.
                ::arrow_array::RecordBatch::try_new(Self::schema(), columns)
                    .unwrap_or_else(|_| ::arrow_array::RecordBatch::new_empty(Self::schema()))
            }
        }
    };

    (@ty Str) => { String };
    (@ty OptStr) => { Option<String> };
    (@ty I64) => { i64 };
    (@ty OptI64) => { Option<i64> };
    (@ty U32) => { u32 };
    (@ty OptU32) => { Option<u32> };
    (@ty U16) => { u16 };
    (@ty OptU16) => { Option<u16> };
    (@ty U8) => { u8 };
    (@ty OptU8) => { Option<u8> };
    (@ty Bool) => { bool };
    (@ty OptBool) => { Option<bool> };
    (@ty Ts) => { i64 };
    (@ty OptTs) => { Option<i64> };

    (@builder Str) => { ::arrow_array::builder::StringBuilder };
    (@builder OptStr) => { ::arrow_array::builder::StringBuilder };
    (@builder I64) => { ::arrow_array::builder::Int64Builder };
    (@builder OptI64) => { ::arrow_array::builder::Int64Builder };
    (@builder U32) => { ::arrow_array::builder::UInt32Builder };
    (@builder OptU32) => { ::arrow_array::builder::UInt32Builder };
    (@builder U16) => { ::arrow_array::builder::UInt16Builder };
    (@builder OptU16) => { ::arrow_array::builder::UInt16Builder };
    (@builder U8) => { ::arrow_array::builder::UInt8Builder };
    (@builder OptU8) => { ::arrow_array::builder::UInt8Builder };
    (@builder Bool) => { ::arrow_array::builder::BooleanBuilder };
    (@builder OptBool) => { ::arrow_array::builder::BooleanBuilder };
    (@builder Ts) => { ::arrow_array::builder::TimestampNanosecondBuilder };
    (@builder OptTs) => { ::arrow_array::builder::TimestampNanosecondBuilder };

    (@new Ts) => { ::arrow_array::builder::TimestampNanosecondBuilder::new().with_timezone("UTC") };
    (@new OptTs) => { ::arrow_array::builder::TimestampNanosecondBuilder::new().with_timezone("UTC") };
    (@new $k:ident) => { <table!(@builder $k)>::new() };

    (@dtype Str) => { ::arrow_schema::DataType::Utf8 };
    (@dtype OptStr) => { ::arrow_schema::DataType::Utf8 };
    (@dtype I64) => { ::arrow_schema::DataType::Int64 };
    (@dtype OptI64) => { ::arrow_schema::DataType::Int64 };
    (@dtype U32) => { ::arrow_schema::DataType::UInt32 };
    (@dtype OptU32) => { ::arrow_schema::DataType::UInt32 };
    (@dtype U16) => { ::arrow_schema::DataType::UInt16 };
    (@dtype OptU16) => { ::arrow_schema::DataType::UInt16 };
    (@dtype U8) => { ::arrow_schema::DataType::UInt8 };
    (@dtype OptU8) => { ::arrow_schema::DataType::UInt8 };
    (@dtype Bool) => { ::arrow_schema::DataType::Boolean };
    (@dtype OptBool) => { ::arrow_schema::DataType::Boolean };
    (@dtype Ts) => { ::arrow_schema::DataType::Timestamp(::arrow_schema::TimeUnit::Nanosecond, Some("UTC".into())) };
    (@dtype OptTs) => { ::arrow_schema::DataType::Timestamp(::arrow_schema::TimeUnit::Nanosecond, Some("UTC".into())) };

    (@nullable Str) => { false };
    (@nullable I64) => { false };
    (@nullable U32) => { false };
    (@nullable U16) => { false };
    (@nullable U8) => { false };
    (@nullable Bool) => { false };
    (@nullable Ts) => { false };
    (@nullable $k:ident) => { true };

    (@append Str, $b:expr, $v:expr) => { $b.append_value(&$v) };
    (@append OptStr, $b:expr, $v:expr) => { $b.append_option($v.as_deref()) };
    (@append I64, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append U32, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append U16, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append U8, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append Bool, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append Ts, $b:expr, $v:expr) => { $b.append_value($v) };
    (@append $k:ident, $b:expr, $v:expr) => { $b.append_option($v) };
}

#[cfg(test)]
mod tests {
    use crate::tables::{HttpBuilder, HttpRow};
    use arrow_array::{Array, Int64Array, StringArray, TimestampNanosecondArray};

    fn row(i: i64, uri_len: usize) -> HttpRow {
        HttpRow {
            conn_id: i,
            file: format!("f{i}"),
            ts: i * 10,
            request_end_ts: (i % 3 != 0).then_some(i),
            uri: (i % 2 == 0).then(|| "u".repeat(uri_len) + &i.to_string()),
            ..HttpRow::default()
        }
    }

    /// Batches taken one after another from the same builders (smaller and larger batches,
    /// longer strings, nulls, an empty one), read back exactly.
    #[test]
    fn batches_after_the_first_read_back_exactly() {
        let mut b = HttpBuilder::default();
        let mut first = 0;
        for (n, uri_len) in [(5, 3), (40, 1), (2, 500), (0, 0), (7, 9)] {
            for i in first..first + n {
                b.append(&row(i, uri_len));
            }
            assert_eq!(b.len(), n as usize);
            let batch = b.finish();
            assert_eq!(batch.num_rows(), n as usize);
            let col = |name: &str| batch.column_by_name(name).unwrap().clone();
            let ids = col("conn_id");
            let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
            let files = col("file");
            let files = files.as_any().downcast_ref::<StringArray>().unwrap();
            let ends = col("request_end_ts");
            let ends = ends
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .unwrap();
            let uris = col("uri");
            let uris = uris.as_any().downcast_ref::<StringArray>().unwrap();
            for (k, i) in (first..first + n).enumerate() {
                let want = row(i, uri_len);
                assert_eq!(ids.value(k), want.conn_id);
                assert_eq!(files.value(k), want.file);
                assert_eq!(
                    (!ends.is_null(k)).then(|| ends.value(k)),
                    want.request_end_ts
                );
                assert_eq!(
                    (!uris.is_null(k)).then(|| uris.value(k).to_string()),
                    want.uri,
                    "row {i}"
                );
            }
            first += n;
        }
        assert!(b.is_empty());
    }
}
