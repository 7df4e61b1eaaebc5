//! The on-disk dataset and its writer pool.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::tables::{CapturesBuilder, ConnectionsBuilder, EventsBuilder, HttpBuilder};

/// The tables of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Per input file.
    Captures,
    /// Per TCP connection.
    Connections,
    /// Per HTTP request.
    Http,
    /// Per anomaly.
    Events,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 4] = [
        Table::Captures,
        Table::Connections,
        Table::Http,
        Table::Events,
    ];

    /// Directory name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Captures => CapturesBuilder::NAME,
            Table::Connections => ConnectionsBuilder::NAME,
            Table::Http => HttpBuilder::NAME,
            Table::Events => EventsBuilder::NAME,
        }
    }

    fn schema(self) -> SchemaRef {
        match self {
            Table::Captures => CapturesBuilder::schema(),
            Table::Connections => ConnectionsBuilder::schema(),
            Table::Http => HttpBuilder::schema(),
            Table::Events => EventsBuilder::schema(),
        }
    }
}

/// Failure to write the dataset. These are fatal: the output is unusable.
#[derive(Debug)]
pub enum OutputError {
    /// The output directory exists and is not empty.
    NotEmpty(PathBuf),
    /// A file system error.
    Io(PathBuf, std::io::Error),
    /// The Parquet writer failed.
    Parquet(PathBuf, parquet::errors::ParquetError),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::NotEmpty(p) => write!(
                f,
                "output directory {} is not empty (pass --force to replace its tables)",
                p.display()
            ),
            OutputError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            OutputError::Parquet(p, e) => write!(f, "{}: parquet: {e}", p.display()),
        }
    }
}

impl std::error::Error for OutputError {}

struct Part {
    writer: ArrowWriter<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
}

struct TableSink {
    table: Table,
    dir: PathBuf,
    schema: SchemaRef,
    props: WriterProperties,
    writers: Vec<Mutex<Option<Part>>>,
    next_part: AtomicUsize,
    rows: AtomicU64,
    /// Last batches handed over with [`Dataset::write_at_finish`].
    deferred: Mutex<Vec<RecordBatch>>,
}

/// Rows and files written per table.
#[derive(Clone, Debug, Default)]
pub struct DatasetSummary {
    /// (table name, rows, part files).
    pub tables: Vec<(&'static str, u64, usize)>,
}

/// A Parquet dataset being written. Shared by reference between workers.
pub struct Dataset {
    root: PathBuf,
    sinks: Vec<TableSink>,
}

/// An in-progress row group is flushed once the writer's estimate of what it holds (encoded
/// pages, dictionaries, unencoded keys) passes this. Every table has up to one open writer per
/// thread, so this is what keeps output memory flat however many rows a capture yields: 3 MiB
/// x 4 tables x threads, and the estimate leaves out some of the writer's buffers, so real
/// memory grows with the group's rows as well. On the generated HTTP captures such a group
/// holds about 16k `http` rows; doubling the groups' rows added 44 MB of peak memory on a 10 GB
/// capture at 2 threads. The cap was 8 MiB while every column had a dictionary, then 6 MiB once
/// 64-bit columns were plain (they fill pages faster), and is 3 MiB since they are delta-encoded
/// (a few bytes per value): at 6 MiB the groups doubled to 32k rows and peak RSS on the 10 GB
/// capture grew from 173 to 187 MB at 1 thread, and to 229-233 MB at 2 (221 before). At 3 MiB
/// the groups are as before (4 `connections`, 15 `http`), peak RSS 169 / 207-211 MB, and the
/// 1 GB capture runs no slower (paired wall 0.940, 21 rounds).
const MAX_WRITER_MEMORY: usize = 3 << 20;
/// Row-group size when the memory cap is not reached first.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Columns whose values are nearly all distinct by their nature, whatever the capture: a
/// client's ephemeral port changes with every connection, and request targets carry ids and
/// query strings. A dictionary for them is built, hashed into for every value, and abandoned
/// once it outgrows its page; zstd finds what repeats in them as well.
const NO_DICTIONARY: &[&str] = &["client_port", "proxied_client_port", "uri"];

/// The text columns that keep min/max statistics: those whose values tend to stay within a
/// narrow range over a stretch of rows in a dataset made of many captures (one file, the few
/// hosts and addresses one sensor sees), so that a reader can skip the row groups of other
/// captures. The rest (URIs, methods, user agents, labels, histories) take values from all
/// over their range in every row group, so min and max never exclude one; working them out
/// compared every value twice, 1.3 % of a whole run's instructions on the 1 GB generated
/// capture (1.7 % with these four columns' statistics dropped too).
const TEXT_WITH_STATISTICS: &[&str] = &["file", "host", "client_ip", "server_ip"];

/// Parquet settings for one table: ZSTD level 1; dictionary encoding only where values
/// repeat; 64-bit integers and timestamps delta-encoded; min/max statistics for numbers,
/// timestamps and the text columns of [`TEXT_WITH_STATISTICS`] only.
///
/// Timestamps, durations, counters and ids are nearly all distinct, so a dictionary for them
/// is built, hashed into for every value and then mostly abandoned; on the 1 GB generated
/// capture that interning was a quarter of all Parquet writing work. Strings and narrow
/// integers (server ports, status codes, flags) keep it: they repeat, and readers filter on
/// them. The 64-bit columns are written `DELTA_BINARY_PACKED` rather than plain: zstd then
/// compresses a few bytes per value instead of eight, which was most of its work. On the
/// 1 GB generated capture (1 thread) the two changes take the run from 2.83 to 2.68 G
/// instructions; in paired timings (`scripts/ab.py`, 25 rounds each) wall time 0.956 and user
/// time 0.948 of before at 1 thread, 0.896 and 0.914 at 2. The files are 1 % smaller in all:
/// `http` 1.29 -> 1.22 MB, `connections` 1.05 -> 1.09 MB (small counters compress better
/// plain). DuckDB, pyarrow (pandas), Polars and Spark 3.3+ read the encoding.
fn writer_properties(schema: &SchemaRef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("wirehouse {}", env!("CARGO_PKG_VERSION")));
    for f in schema.fields() {
        let column = || ColumnPath::from(f.name().as_str());
        if f.data_type() == &DataType::Utf8 && !TEXT_WITH_STATISTICS.contains(&f.name().as_str()) {
            b = b.set_column_statistics_enabled(column(), EnabledStatistics::None);
        }
        if matches!(
            f.data_type(),
            DataType::Int64 | DataType::UInt64 | DataType::Timestamp(_, _)
        ) {
            b = b
                .set_column_dictionary_enabled(column(), false)
                .set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
        } else if NO_DICTIONARY.contains(&f.name().as_str()) || f.data_type() == &DataType::Float64
        {
            b = b.set_column_dictionary_enabled(column(), false);
        }
    }
    b.build()
}

impl Dataset {
    /// Create the dataset directory. Refuses a non-empty directory unless `force`, in which
    /// case only the table directories are replaced (other files are left alone). Each table
    /// gets `writers` part files at most, written concurrently.
    pub fn create(root: &Path, force: bool, writers: usize) -> Result<Dataset, OutputError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| OutputError::Io(p, e)
        };
        if root.exists() {
            let mut entries = fs::read_dir(root).map_err(io(root))?;
            if entries.next().is_some() {
                if !force {
                    return Err(OutputError::NotEmpty(root.to_path_buf()));
                }
                for t in Table::ALL {
                    let dir = root.join(t.name());
                    if dir.exists() {
                        fs::remove_dir_all(&dir).map_err(io(&dir))?;
                    }
                }
            }
        }
        let mut sinks = Vec::new();
        for table in Table::ALL {
            let dir = root.join(table.name());
            fs::create_dir_all(&dir).map_err(io(&dir))?;
            let schema = table.schema();
            sinks.push(TableSink {
                table,
                dir,
                props: writer_properties(&schema),
                schema,
                writers: (0..writers.max(1)).map(|_| Mutex::new(None)).collect(),
                next_part: AtomicUsize::new(0),
                rows: AtomicU64::new(0),
                deferred: Mutex::new(Vec::new()),
            });
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            sinks,
        })
    }

    /// The dataset directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write a batch of `table` rows. `hint` spreads callers over the table's writers (pass
    /// the worker index); a busy writer is skipped for a free one.
    pub fn write(&self, table: Table, batch: &RecordBatch, hint: usize) -> Result<(), OutputError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let sink = &self.sinks[table as usize];
        let n = sink.writers.len();
        let mut slot = None;
        for i in 0..n {
            if let Ok(g) = sink.writers[(hint + i) % n].try_lock() {
                slot = Some(g);
                break;
            }
        }
        let mut guard = match slot {
            Some(g) => g,
            None => sink.writers[hint % n]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        if guard.is_none() {
            *guard = Some(sink.open_part(sink.take_part_number())?);
        }
        let Some(part) = guard.as_mut() else {
            return Ok(());
        };
        part.write(batch)?;
        sink.rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Hand over a table's last rows: they are written by [`Dataset::finish`], in the same
    /// parallel step that closes the part files.
    ///
    /// Writing the workers' last rows first and closing afterwards were two steps of one task
    /// per worker each, and one worker's task (a row group to compress) left the other cores
    /// idle at the end of every run; as one set of jobs, biggest first, they share the cores.
    pub fn write_at_finish(&self, table: Table, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.sinks[table as usize]
                .deferred
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(batch);
        }
    }

    /// Write the rows handed to [`Dataset::write_at_finish`] and close every part file, on as
    /// many threads as there are writers per table (the run's thread count). A table that
    /// received no rows gets one empty part, so that globs like `OUT/http/*.parquet` always
    /// match and carry the schema.
    pub fn finish(self) -> Result<DatasetSummary, OutputError> {
        let mut summary = DatasetSummary::default();
        let mut jobs: Vec<CloseJob<'_>> = Vec::new();
        for sink in &self.sinks {
            let parts: Vec<Part> = sink
                .writers
                .iter()
                .filter_map(|w| w.lock().unwrap_or_else(|p| p.into_inner()).take())
                .collect();
            let batches =
                std::mem::take(&mut *sink.deferred.lock().unwrap_or_else(|p| p.into_inner()));
            // The last rows join the open parts, in equal shares; when fewer parts are open
            // than there are batches, more are opened (as many as writers), as
            // [`Dataset::write`] would have done for workers writing at the same time. A new
            // part is opened by its job, on the run's threads: opened here, on the caller's
            // thread, its writer's buffers were fresh memory that this VM's host had taken
            // back, and the first touches of one such huge page stalled the end of the run for
            // 2-20 ms (1 GB capture, 2 threads) while the other lane waited.
            let mut part_jobs: Vec<CloseJob<'_>> = parts
                .into_iter()
                .map(|part| CloseJob::new(sink, JobPart::Open(Box::new(part))))
                .collect();
            while part_jobs.is_empty() || part_jobs.len() < batches.len().min(sink.writers.len()) {
                part_jobs.push(CloseJob::new(
                    sink,
                    JobPart::ToOpen(sink.take_part_number()),
                ));
            }
            let n = part_jobs.len();
            for (job, share) in part_jobs.iter_mut().zip(share_rows(batches, n)) {
                job.batches = share;
            }
            let files = part_jobs.len();
            let pending: u64 = part_jobs
                .iter()
                .flat_map(|j| &j.batches)
                .map(|b| b.num_rows() as u64)
                .sum();
            summary.tables.push((
                sink.table.name(),
                sink.rows.load(Ordering::Relaxed) + pending,
                files,
            ));
            jobs.extend(part_jobs);
        }
        // Biggest first (longest-processing-time order: the queue is popped from the back),
        // so the last job to start is a small one and no core waits long for another.
        jobs.sort_by_cached_key(CloseJob::weight);
        // As many lanes as writers per table: the thread count the run was given.
        let lanes = self.sinks.first().map_or(1, |s| s.writers.len()).max(1);
        let queue = Mutex::new(jobs);
        let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
        // The lanes run on the run's pool (`rayon::scope` called from outside the pool runs
        // its closure on a pool thread too): the last row groups are then encoded in memory
        // the workers' allocator heaps already hold (the rows and connections the run freed),
        // not in fresh pages for new threads. 1 GB generated capture: 52 -> 43 huge pages
        // faulted in at 1 thread, 65 -> 46-50 at 2.
        let failed: Mutex<Option<OutputError>> = Mutex::new(None);
        let lane = || {
            if let Err(e) = std::iter::from_fn(next).try_for_each(CloseJob::run) {
                failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        };
        rayon::scope(|s| {
            for _ in 1..lanes {
                s.spawn(|_| lane());
            }
            lane();
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(summary)
    }
}

/// Deal `batches` into `n` shares of equal numbers of rows (within one), in order; slices
/// share the batches' buffers.
///
/// The workers' last batches differ in size (one had just flushed, the other not), and a
/// part's close cannot be split, so whole batches made one part file's job twice another's
/// and the end of the run waited for it (1 GB capture, 2 threads: 28-36 ms against 13-25 ms
/// for the two `connections` parts; 16-22 ms each when shared).
fn share_rows(batches: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    let n = n.max(1);
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut shares: Vec<Vec<RecordBatch>> = (0..n).map(|_| Vec::new()).collect();
    // Share i holds rows [i * total / n, (i + 1) * total / n) of the concatenation.
    let bound = |i: usize| i * total / n;
    let mut share = 0;
    let mut pos = 0; // rows dealt so far
    for b in batches {
        let mut at = 0;
        while at < b.num_rows() {
            while pos >= bound(share + 1) && share + 1 < n {
                share += 1;
            }
            let take = (bound(share + 1) - pos).min(b.num_rows() - at);
            shares[share].push(b.slice(at, take));
            at += take;
            pos += take;
        }
    }
    shares
}

/// One part file's last batches and its close.
struct CloseJob<'d> {
    sink: &'d TableSink,
    part: JobPart,
    batches: Vec<RecordBatch>,
}

impl TableSink {
    /// The number of the table's next part file.
    fn take_part_number(&self) -> usize {
        self.next_part.fetch_add(1, Ordering::Relaxed)
    }

    /// Open part file number `idx`.
    fn open_part(&self, idx: usize) -> Result<Part, OutputError> {
        let path = self.dir.join(format!("part-{idx:05}.parquet"));
        // Written under a name no reader globs for, renamed when complete, so an interrupted
        // run never leaves a truncated file that `*.parquet` would pick up.
        let tmp = self.dir.join(format!(".part-{idx:05}.parquet.inprogress"));
        let file = File::create(&tmp).map_err(|e| OutputError::Io(tmp.clone(), e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            self.schema.clone(),
            Some(self.props.clone()),
        )
        .map_err(|e| OutputError::Parquet(tmp.clone(), e))?;
        Ok(Part { writer, tmp, path })
    }
}

/// A part file of a [`CloseJob`]: open already, or to be opened by the job.
enum JobPart {
    /// Boxed: a writer is a few hundred bytes, and there are a handful of jobs.
    Open(Box<Part>),
    /// The part's number, taken when the job was made (so file names do not depend on which
    /// thread gets to the job first).
    ToOpen(usize),
}

impl<'d> CloseJob<'d> {
    fn new(sink: &'d TableSink, part: JobPart) -> CloseJob<'d> {
        CloseJob {
            sink,
            part,
            batches: Vec::new(),
        }
    }

    /// Roughly the work left: the writer's buffered row group (compressed at close) and the
    /// rows still to encode.
    fn weight(&self) -> usize {
        let rows: usize = self.batches.iter().map(RecordBatch::num_rows).sum();
        let buffered = match &self.part {
            JobPart::Open(p) => p.writer.memory_size(),
            JobPart::ToOpen(_) => 0,
        };
        buffered + rows * 64
    }

    fn run(self) -> Result<(), OutputError> {
        let mut part = match self.part {
            JobPart::Open(p) => *p,
            JobPart::ToOpen(idx) => self.sink.open_part(idx)?,
        };
        for b in &self.batches {
            part.write(b)?;
            self.sink
                .rows
                .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
        part.close()
    }
}

impl Part {
    /// Append a batch, ending the row group once the writer holds `MAX_WRITER_MEMORY`.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        self.writer
            .write(batch)
            .map_err(|e| OutputError::Parquet(self.path.clone(), e))?;
        if self.writer.memory_size() > MAX_WRITER_MEMORY {
            self.writer
                .flush()
                .map_err(|e| OutputError::Parquet(self.path.clone(), e))?;
        }
        Ok(())
    }

    /// Write the footer and give the file its final name.
    fn close(self) -> Result<(), OutputError> {
        self.writer
            .close()
            .map_err(|e| OutputError::Parquet(self.tmp.clone(), e))?;
        fs::rename(&self.tmp, &self.path).map_err(|e| OutputError::Io(self.path.clone(), e))
    }
}

/// One worker's builders for every table. Rows accumulate here and go to the dataset as
/// batches of `batch_rows`.
#[derive(Debug, Default)]
pub struct TableBuilders {
    /// `captures` rows.
    pub captures: CapturesBuilder,
    /// `connections` rows.
    pub connections: ConnectionsBuilder,
    /// `http` rows.
    pub http: HttpBuilder,
    /// `events` rows.
    pub events: EventsBuilder,
}

impl TableBuilders {
    /// Send every table holding at least `min_rows` rows to the dataset.
    pub fn flush(&mut self, ds: &Dataset, min_rows: usize, hint: usize) -> Result<(), OutputError> {
        let min_rows = min_rows.max(1);
        if self.captures.len() >= min_rows {
            ds.write(Table::Captures, &self.captures.finish(), hint)?;
        }
        if self.connections.len() >= min_rows {
            ds.write(Table::Connections, &self.connections.finish(), hint)?;
        }
        if self.http.len() >= min_rows {
            ds.write(Table::Http, &self.http.finish(), hint)?;
        }
        if self.events.len() >= min_rows {
            ds.write(Table::Events, &self.events.finish(), hint)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{CaptureRow, EventRow, HttpRow};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("wirehouse-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn read_rows(dir: &Path) -> usize {
        let mut n = 0;
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(p.extension().unwrap(), "parquet", "{p:?}");
            let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&p).unwrap())
                .unwrap()
                .build()
                .unwrap();
            for b in r {
                n += b.unwrap().num_rows();
            }
        }
        n
    }

    #[test]
    fn last_rows_are_dealt_in_equal_shares_in_order() {
        let batch = |first: i64, n: i64| {
            let mut b = TableBuilders::default();
            for i in first..first + n {
                b.captures.append(&CaptureRow {
                    packets: i,
                    ..Default::default()
                });
            }
            b.captures.finish()
        };
        let values = |share: &[RecordBatch]| -> Vec<i64> {
            share
                .iter()
                .flat_map(|b| {
                    b.column_by_name("packets")
                        .unwrap()
                        .as_any()
                        .downcast_ref::<arrow_array::Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect()
        };
        // 10 + 3 + 0 + 7 = 20 rows into 3 shares: 6, 7, 7 rows, nothing lost or repeated.
        let shares = share_rows(
            vec![batch(0, 10), batch(10, 3), batch(13, 0), batch(13, 7)],
            3,
        );
        let sizes: Vec<usize> = shares.iter().map(|s| values(s).len()).collect();
        assert_eq!(sizes, vec![6, 7, 7]);
        let all: Vec<i64> = shares.iter().flat_map(|s| values(s)).collect();
        assert_eq!(all, (0..20).collect::<Vec<i64>>());
        // More shares than rows: some are empty, none is dropped.
        let shares = share_rows(vec![batch(0, 2)], 4);
        assert_eq!(shares.len(), 4);
        assert_eq!(shares.iter().map(|s| values(s).len()).sum::<usize>(), 2);
        // No rows at all.
        assert!(share_rows(Vec::new(), 2).iter().all(Vec::is_empty));
    }

    #[test]
    fn rows_handed_over_for_finish_are_written_and_counted() {
        let root = tmpdir("deferred");
        let ds = Dataset::create(&root, false, 2).unwrap();
        let captures = |first: i64, n: i64| {
            let mut b = TableBuilders::default();
            for i in first..first + n {
                b.captures.append(&CaptureRow {
                    file: format!("f{i}.pcap"),
                    packets: i,
                    ..Default::default()
                });
            }
            b.captures.finish()
        };
        // One part open with 5 rows; two workers' last batches (7 and 3 rows) join it and
        // a second part (two batches, two writers), not more.
        ds.write(Table::Captures, &captures(0, 5), 0).unwrap();
        ds.write_at_finish(Table::Captures, captures(5, 7));
        ds.write_at_finish(Table::Captures, captures(12, 3));
        // A table with only a handed-over batch and no part open yet.
        let mut e = TableBuilders::default();
        e.events.append(&EventRow {
            kind: "x".into(),
            ..Default::default()
        });
        ds.write_at_finish(Table::Events, e.events.finish());
        // Empty batches are ignored.
        ds.write_at_finish(Table::Http, TableBuilders::default().http.finish());
        let s = ds.finish().unwrap();
        assert_eq!(s.tables[0], ("captures", 15, 2));
        assert_eq!(s.tables[3], ("events", 1, 1));
        assert_eq!(s.tables[2], ("http", 0, 1));
        assert_eq!(read_rows(&root.join("captures")), 15);
        let mut packets = Vec::new();
        for f in fs::read_dir(root.join("captures")).unwrap() {
            let r =
                ParquetRecordBatchReaderBuilder::try_new(File::open(f.unwrap().path()).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            for b in r {
                let b = b.unwrap();
                let col = b
                    .column_by_name("packets")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .unwrap()
                    .clone();
                packets.extend(col.values().iter().copied());
            }
        }
        packets.sort_unstable();
        assert_eq!(packets, (0..15).collect::<Vec<i64>>());
        assert_eq!(read_rows(&root.join("events")), 1);
        assert_eq!(read_rows(&root.join("http")), 0);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn writes_every_table_and_reads_back() {
        let root = tmpdir("rw");
        let ds = Dataset::create(&root, false, 2).unwrap();
        let mut b = TableBuilders::default();
        for i in 0..10 {
            b.captures.append(&CaptureRow {
                file: format!("f{i}.pcap"),
                packets: i,
                first_ts: Some(1_700_000_000_000_000_000),
                ..Default::default()
            });
        }
        b.events.append(&EventRow {
            kind: "x".into(),
            ..Default::default()
        });
        b.flush(&ds, 1, 0).unwrap();
        let s = ds.finish().unwrap();
        assert_eq!(s.tables[0], ("captures", 10, 1));
        assert_eq!(read_rows(&root.join("captures")), 10);
        assert_eq!(read_rows(&root.join("events")), 1);
        // Tables without rows still get a (schema-only) part file.
        assert_eq!(read_rows(&root.join("http")), 0);
        assert_eq!(fs::read_dir(root.join("http")).unwrap().count(), 1);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn refuses_non_empty_output_without_force() {
        let root = tmpdir("force");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("notes.txt"), "keep me").unwrap();
        assert!(matches!(
            Dataset::create(&root, false, 1),
            Err(OutputError::NotEmpty(_))
        ));
        let ds = Dataset::create(&root, true, 1).unwrap();
        ds.finish().unwrap();
        assert_eq!(
            fs::read_to_string(root.join("notes.txt")).unwrap(),
            "keep me"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn dictionaries_only_for_columns_whose_values_repeat() {
        let root = tmpdir("dict");
        let ds = Dataset::create(&root, false, 1).unwrap();
        let mut b = TableBuilders::default();
        for i in 0..100 {
            b.captures.append(&CaptureRow {
                file: format!("f{}.pcap", i % 3),
                packets: i,
                first_ts: Some(1_700_000_000_000_000_000 + i),
                ..Default::default()
            });
        }
        b.flush(&ds, 1, 0).unwrap();
        ds.finish().unwrap();
        let reader = first_part(&root.join("captures"));
        let group = reader.metadata().row_group(0);
        let has_dictionary = |name: &str| column(group, name).dictionary_page_offset().is_some();
        assert!(has_dictionary("file"));
        assert!(!has_dictionary("first_ts"));
        assert!(!has_dictionary("packets"));
        fs::remove_dir_all(&root).unwrap();
    }

    /// A reader of the first part file in a table directory.
    fn first_part(dir: &Path) -> ParquetRecordBatchReaderBuilder<File> {
        let part = fs::read_dir(dir).unwrap().next().unwrap().unwrap().path();
        ParquetRecordBatchReaderBuilder::try_new(File::open(&part).unwrap()).unwrap()
    }

    /// A row group's chunk of the column `name`.
    fn column<'g>(
        group: &'g parquet::file::metadata::RowGroupMetaData,
        name: &str,
    ) -> &'g parquet::file::metadata::ColumnChunkMetaData {
        group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// The encodings are chosen per column type and name, and every value, extremes and nulls
    /// included, reads back exactly (delta encoding wraps at the 64-bit limits).
    #[test]
    fn delta_encoded_integers_and_undictionaried_columns_read_back_exactly() {
        let root = tmpdir("enc");
        let ds = Dataset::create(&root, false, 1).unwrap();
        let mut b = TableBuilders::default();
        let extremes = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1];
        for i in 0..3000usize {
            let v = extremes[i % extremes.len()].wrapping_add((i / extremes.len()) as i64 * 977);
            b.http.append(&HttpRow {
                conn_id: v,
                ts: 1_700_000_000_000_000_000 + (i as i64) * 1_000,
                response_ts: (i % 5 != 0).then_some(v),
                response_body_bytes: (i % 3 != 0).then_some(v.wrapping_mul(31)),
                client_port: (1024 + i * 7) as u16,
                server_port: 80,
                uri: (i % 11 != 0).then(|| format!("/item/{}?page={}", i * 13, i % 9)),
                method: Some(["GET", "POST"][i % 2].into()),
                host: Some(format!("h{}.example", i % 4)),
                user_agent: Some(format!("agent/{}", i % 3)),
                client_ip: format!("10.0.{}.{}", i / 250, i % 250),
                ..Default::default()
            });
        }
        let want = b.http.finish();
        ds.write(Table::Http, &want, 0).unwrap();
        ds.finish().unwrap();
        let reader = first_part(&root.join("http"));
        let group = reader.metadata().row_group(0).clone();
        let chunk = |name: &str| column(&group, name).clone();
        for name in ["conn_id", "ts", "response_ts", "response_body_bytes"] {
            let c = chunk(name);
            assert!(
                c.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED),
                "{name}: {:?}",
                c.encodings().collect::<Vec<_>>()
            );
            assert!(c.dictionary_page_offset().is_none(), "{name}");
        }
        for name in ["client_port", "uri"] {
            assert!(chunk(name).dictionary_page_offset().is_none(), "{name}");
        }
        for name in ["server_port", "method", "file"] {
            assert!(chunk(name).dictionary_page_offset().is_some(), "{name}");
        }
        // Min/max for numbers, timestamps, the file, host and addresses; none for other text.
        for name in [
            "conn_id",
            "ts",
            "client_port",
            "server_port",
            "file",
            "host",
            "client_ip",
        ] {
            let stats = chunk(name);
            let stats = stats.statistics().unwrap_or_else(|| panic!("{name}"));
            assert!(stats.min_bytes_opt().is_some(), "{name}");
        }
        for name in ["uri", "method", "user_agent"] {
            assert!(chunk(name).statistics().is_none(), "{name}");
        }
        let mut got = reader.with_batch_size(1 << 20).build().unwrap();
        let got = got.next().unwrap().unwrap();
        assert_eq!(got.num_rows(), 3000);
        for (name, want_col) in want.schema().fields().iter().zip(want.columns()) {
            assert_eq!(
                got.column_by_name(name.name()).unwrap().as_ref(),
                want_col.as_ref(),
                "{}",
                name.name()
            );
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn timestamps_are_utc_nanoseconds() {
        let schema = CapturesBuilder::schema();
        let f = schema.field_with_name("first_ts").unwrap();
        assert_eq!(
            f.data_type(),
            &arrow_schema::DataType::Timestamp(
                arrow_schema::TimeUnit::Nanosecond,
                Some("UTC".into())
            )
        );
    }
}
