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

            /// Take the pending rows as a record batch. The builder is left empty, with room
            /// for as many rows as this batch had.
            ///
            /// Arrow's `finish` leaves a builder with no capacity at all, so every batch grew
            /// each column again from nothing, doubling and copying. On a loopback capture of
            /// small keep-alive API calls (340 k `http` rows in 21 batches) keeping the room
            /// took the run from 8.74 to 8.58 G instructions (1.9 %); on the generated 1 GB
            /// capture, with few batches, 0.2 %.
            pub fn finish(&mut self) -> ::arrow_array::RecordBatch {
                self.take_batch(true)
            }

            /// Take the last pending rows as a record batch, leaving the builder with no
            /// capacity: nothing more will be appended, so room would only be memory held.
            pub fn finish_last(&mut self) -> ::arrow_array::RecordBatch {
                self.take_batch(false)
            }

            fn take_batch(&mut self, renew: bool) -> ::arrow_array::RecordBatch {
                let rows = ::std::mem::take(&mut self.len);
                let columns: Vec<::arrow_array::ArrayRef> = vec![
                    $( {
                        let column = self.$field.finish();
                        if renew {
                            self.$field = table!(@renew $kind, rows, column);
                        }
                        ::std::sync::Arc::new(column)
                    }, )*
                ];
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

    (@renew Str, $rows:expr, $done:expr) => {
        ::arrow_array::builder::StringBuilder::with_capacity($rows, $done.value_data().len())
    };
    (@renew OptStr, $rows:expr, $done:expr) => {
        ::arrow_array::builder::StringBuilder::with_capacity($rows, $done.value_data().len())
    };
    (@renew Ts, $rows:expr, $done:expr) => {
        ::arrow_array::builder::TimestampNanosecondBuilder::with_capacity($rows).with_timezone("UTC")
    };
    (@renew OptTs, $rows:expr, $done:expr) => {
        ::arrow_array::builder::TimestampNanosecondBuilder::with_capacity($rows).with_timezone("UTC")
    };
    (@renew $k:ident, $rows:expr, $done:expr) => { <table!(@builder $k)>::with_capacity($rows) };

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
