//! `S3Archive`: an archive in a bucket of any S3-compatible store (AWS, MinIO, Garage,
//! s3s, ...), through the AWS SDK. Blocking methods drive the async client with
//! `Handle::block_on`: they must be called from a thread that is not an async worker
//! (a user thread or tokio's blocking pool); tokio panics if called from async code.
//!
//! Settings that differ from the SDK's defaults, and why:
//! - Region and static credentials are given to the client directly when configured: the
//!   default provider chain would otherwise probe the EC2 instance metadata service, with
//!   1 s timeouts and retries, on every machine that is not EC2 (aws-sdk-rust #673, #1313).
//! - Request checksums and response checksum validation only "when required": since SDK
//!   1.69 uploads are otherwise sent aws-chunked with CRC32 trailers, which many
//!   S3-compatible stores reject (aws-sdk-rust #1240).
//! - Stalled-stream protection off: it fails healthy transfers on slow local servers
//!   (aws-sdk-rust #1146); the read and attempt timeouts bound a stuck transfer instead.
//! - The SDK's own retries off (`RetryConfig::disabled()`, one attempt per call): `Remote`
//!   retries with its breaker and counts requests, and two retry layers would multiply.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use tokio::runtime::Handle;

use super::{range_len, validate_key, ArchiveError, ArchiveStore, PutOutcome, Result};

/// S3's smallest part (but the last) and its largest part count.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_SIZE: u64 = 5 << 30;
const MAX_PARTS: u64 = 10_000;

/// Where and how to reach the bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible store ("http://127.0.0.1:9000"); `None` for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Prepended to every key ("cold/" ...); a '/' is added if missing. May be empty.
    pub prefix: String,
    /// Path-style addressing (endpoint/bucket/key), which most self-hosted stores need.
    pub path_style: bool,
    /// (access key, secret key); `None` uses the SDK's default chain (environment,
    /// profile, instance metadata), for deployments on AWS with roles.
    pub credentials: Option<(String, String)>,
    /// Files larger than this go up in parts.
    pub multipart_threshold: u64,
    /// Size of each part but the last (5 MiB ..= 5 GiB).
    pub part_size: u64,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// Longest one request (one attempt) may take, transfer included.
    pub attempt_timeout: Duration,
}

impl S3Config {
    /// Defaults: no prefix, virtual-hosted addressing, default credentials, parts of
    /// 8 MiB above 16 MiB, timeouts of 5 s (connect), 30 s (read), 300 s (attempt).
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> S3Config {
        S3Config {
            endpoint: None,
            region: region.into(),
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: false,
            credentials: None,
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(300),
        }
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.bucket.is_empty() {
            return Err("empty bucket name".into());
        }
        if self.region.is_empty() {
            return Err("empty region".into());
        }
        if let Some(endpoint) = &self.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(format!(
                    "endpoint {endpoint:?} is not an http:// or https:// URL"
                ));
            }
        }
        if self
            .credentials
            .as_ref()
            .is_some_and(|(ak, sk)| ak.is_empty() || sk.is_empty())
        {
            return Err("empty access key or secret key".into());
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(format!(
                "part_size {} outside {MIN_PART_SIZE}..={MAX_PART_SIZE}",
                self.part_size
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for S3Config {
    // By hand, to keep the secret key out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(ak, _)| (ak, "<secret>")),
            )
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

/// An archive in an S3 bucket. One client (one connection pool) per instance; share the
/// instance.
pub struct S3Archive {
    client: Client,
    handle: Handle,
    bucket: String,
    prefix: String,
    multipart_threshold: u64,
    part_size: u64,
    /// "s3://bucket/prefix at endpoint", for error messages.
    store: String,
}

impl S3Archive {
    /// Builds the client. `handle` is the runtime the requests run on; it needs IO and
    /// time enabled. Must not be called from an async worker thread (see the module docs).
    pub fn new(config: S3Config, handle: Handle) -> Result<S3Archive> {
        let mut prefix = config.prefix.clone();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let store = format!(
            "s3://{}/{prefix} at {}",
            config.bucket,
            config.endpoint.as_deref().unwrap_or("AWS")
        );
        config
            .validate()
            .map_err(|m| ArchiveError::permanent("configure", "", &store, m))?;
        let region = Region::new(config.region.clone());
        let builder = match &config.credentials {
            Some((access_key, secret_key)) => aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(Credentials::new(
                    access_key,
                    secret_key,
                    None,
                    None,
                    "aof-static",
                )),
            None => {
                // The default chain, region given so that it does not look for one.
                let shared = handle.block_on(
                    aws_config::defaults(BehaviorVersion::latest())
                        .region(region.clone())
                        .load(),
                );
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        let mut builder = builder
            .region(region)
            .force_path_style(config.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(config.connect_timeout)
                    .read_timeout(config.read_timeout)
                    .operation_attempt_timeout(config.attempt_timeout)
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(S3Archive {
            client: Client::from_conf(builder.build()),
            handle,
            bucket: config.bucket,
            prefix,
            multipart_threshold: config.multipart_threshold,
            part_size: config.part_size,
            store,
        })
    }

    fn object_key(&self, op: &'static str, key: &str) -> Result<String> {
        validate_key(key).map_err(|m| ArchiveError::permanent(op, key, &self.store, m))?;
        Ok(format!("{}{key}", self.prefix))
    }

    /// Sorts an SDK error into not found, unavailable (retryable) and permanent.
    fn classify<E>(&self, op: &'static str, key: &str, err: &SdkError<E>) -> ArchiveError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let message = format!("{}", DisplayErrorContext(err));
        let unavailable = || ArchiveError::unavailable(op, key, &self.store, message.clone());
        let permanent = || ArchiveError::permanent(op, key, &self.store, message.clone());
        match err {
            SdkError::ConstructionFailure(_) => permanent(),
            SdkError::DispatchFailure(e) if e.is_user() => permanent(),
            SdkError::ServiceError(_) => {
                let status = err.raw_response().map_or(0, |r| r.status().as_u16());
                match (status, err.code()) {
                    (404, _) | (_, Some("NoSuchKey")) => {
                        ArchiveError::not_found(op, key, &self.store)
                    }
                    // Throttling and conflicts of concurrent conditional writes pass.
                    (408 | 409 | 429 | 500..=599, _)
                    | (
                        _,
                        Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout"),
                    ) => unavailable(),
                    _ => permanent(),
                }
            }
            // Timeouts, connection failures, broken responses.
            _ => unavailable(),
        }
    }

    fn is_precondition_failed<E>(err: &SdkError<E>) -> bool
    where
        E: ProvideErrorMetadata,
    {
        err.raw_response()
            .is_some_and(|r| r.status().as_u16() == 412)
            || err.code() == Some("PreconditionFailed")
    }

    /// After a conditional create found the key taken: the existing object's size.
    fn existing(&self, key: &str, object_key: &str) -> Result<PutOutcome> {
        match self.head_object(key, object_key)? {
            Some(size) => Ok(PutOutcome::AlreadyExists { size }),
            // Deleted between the two requests: let the caller try again.
            None => Err(ArchiveError::unavailable(
                "put",
                key,
                &self.store,
                "the object existed at upload and was gone right after",
            )),
        }
    }

    fn head_object(&self, key: &str, object_key: &str) -> Result<Option<u64>> {
        let request = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(object_key);
        match self.handle.block_on(request.send()) {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) => match self.classify("head", key, &e) {
                ArchiveError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    fn put_single(
        &self,
        key: &str,
        object_key: &str,
        path: &Path,
        size: u64,
    ) -> Result<PutOutcome> {
        let body = self
            .handle
            .block_on(ByteStream::from_path(path))
            .map_err(|e| self.source_error(key, path, e))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(object_key)
            .if_none_match("*")
            .content_length(size as i64)
            .body(body);
        match self.handle.block_on(request.send()) {
            Ok(_) => Ok(PutOutcome::Created { size, parts: 0 }),
            Err(e) if Self::is_precondition_failed(&e) => self.existing(key, object_key),
            Err(e) => Err(self.classify("put", key, &e)),
        }
    }

    fn source_error(&self, key: &str, path: &Path, e: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::permanent(
            "put",
            key,
            &self.store,
            format!("read source {}: {e}", path.display()),
        )
    }

    /// Uploads in parts; any failure aborts the upload so no parts are left behind.
    fn put_multipart(
        &self,
        key: &str,
        object_key: &str,
        path: &Path,
        size: u64,
    ) -> Result<PutOutcome> {
        // A part upload of a 64 MiB file is wasted if the object exists: ask first. The
        // conditional complete below still decides if another writer raced us.
        if let Some(size) = self.head_object(key, object_key)? {
            return Ok(PutOutcome::AlreadyExists { size });
        }
        let parts = size.div_ceil(self.part_size);
        if parts > MAX_PARTS {
            return Err(ArchiveError::permanent(
                "put",
                key,
                &self.store,
                format!(
                    "{size} bytes need {parts} parts of {} (at most {MAX_PARTS})",
                    self.part_size
                ),
            ));
        }
        let create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(object_key);
        let upload_id = self
            .handle
            .block_on(create.send())
            .map_err(|e| self.classify("put", key, &e))?
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| ArchiveError::permanent("put", key, &self.store, "no upload id"))?;
        let result = self.upload_parts(key, object_key, path, size, &upload_id);
        if !matches!(result, Ok(PutOutcome::Created { .. })) {
            // Best effort: an upload left behind costs storage until a lifecycle rule
            // removes it, and the error that matters is the first one.
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(object_key)
                .upload_id(&upload_id);
            let _ = self.handle.block_on(abort.send());
        }
        result
    }

    fn upload_parts(
        &self,
        key: &str,
        object_key: &str,
        path: &Path,
        size: u64,
        upload_id: &str,
    ) -> Result<PutOutcome> {
        let mut file = File::open(path).map_err(|e| self.source_error(key, path, e))?;
        let mut completed = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let len = self.part_size.min(size - offset);
            let mut buf = vec![0; len as usize];
            file.read_exact(&mut buf)
                .map_err(|e| self.source_error(key, path, e))?;
            let request = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(object_key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(len as i64)
                .body(ByteStream::from(buf));
            let out = self
                .handle
                .block_on(request.send())
                .map_err(|e| self.classify("upload_part", key, &e))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += len;
            number += 1;
        }
        let request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(object_key)
            .upload_id(upload_id)
            .if_none_match("*")
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        match self.handle.block_on(request.send()) {
            Ok(_) => Ok(PutOutcome::Created {
                size,
                parts: (number - 1) as u32,
            }),
            Err(e) if Self::is_precondition_failed(&e) => self.existing(key, object_key),
            Err(e) => Err(self.classify("put", key, &e)),
        }
    }

    fn read_object(
        &self,
        op: &'static str,
        key: &str,
        range: Option<&Range<u64>>,
    ) -> Result<Vec<u8>> {
        let object_key = self.object_key(op, key)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&object_key)
            .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end - 1)));
        self.handle.block_on(async {
            let out = request
                .send()
                .await
                .map_err(|e| self.classify(op, key, &e))?;
            let body = out.body.collect().await.map_err(|e| {
                // The connection broke during the transfer.
                ArchiveError::unavailable(op, key, &self.store, format!("reading the body: {e}"))
            })?;
            Ok(body.into_bytes().to_vec())
        })
    }
}

impl ArchiveStore for S3Archive {
    fn put_file(&self, key: &str, path: &Path) -> Result<PutOutcome> {
        let object_key = self.object_key("put", key)?;
        let size = std::fs::metadata(path)
            .map_err(|e| self.source_error(key, path, e))?
            .len();
        if size > self.multipart_threshold {
            self.put_multipart(key, &object_key, path, size)
        } else {
            self.put_single(key, &object_key, path, size)
        }
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        const OP: &str = "get_range";
        let len =
            range_len(&range).map_err(|m| ArchiveError::permanent(OP, key, &self.store, m))?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let data = self.read_object(OP, key, Some(&range))?;
        // A store that ignores Range sends the whole object; a short object sends less.
        if data.len() as u64 != len {
            return Err(ArchiveError::permanent(
                OP,
                key,
                &self.store,
                format!(
                    "range {}..{}: got {} bytes, expected {len}",
                    range.start,
                    range.end,
                    data.len()
                ),
            ));
        }
        Ok(data)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.read_object("get", key, None)
    }

    fn head(&self, key: &str) -> Result<Option<u64>> {
        let object_key = self.object_key("head", key)?;
        self.head_object(key, &object_key)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let object_key = self.object_key("delete", key)?;
        let request = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&object_key);
        match self.handle.block_on(request.send()) {
            Ok(_) => Ok(()),
            Err(e) => match self.classify("delete", key, &e) {
                ArchiveError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                .set_continuation_token(token.take());
            let page = self
                .handle
                .block_on(request.send())
                .map_err(|e| self.classify("list", prefix, &e))?;
            for object in page.contents() {
                if let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    out.push((key.to_owned(), object.size().unwrap_or(0).max(0) as u64));
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.store.clone()
    }
}
