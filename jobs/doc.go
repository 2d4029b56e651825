// Package jobs defines Folio's asynq task types, enqueues them, and handles
// them in workers.
//
// # Task types
//
//	folio:plan_file       one input file: stat, download, count pages, record
//	                      ranges aligned with batchSize, enqueue annotate_range
//	folio:annotate_range  one page range: annotate its pages, write
//	                      output-A-to-B.json, record the range as done
//	folio:plan_images     an images:asyncBatchAnnotate operation: record its
//	                      batches of batchSize images (file 0, images as pages)
//	                      and enqueue annotate_images per batch
//	folio:annotate_images one batch of images: annotate them as images:annotate
//	                      does, write output-A-to-B.json (a
//	                      BatchAnnotateImagesResponse), record the batch as done
//	folio:annotate_sync   one synchronous call (files:annotate, images:annotate)
//	                      on the queue <queue>-sync: annotate up to five pages
//	                      or sixteen images and deliver the answer through
//	                      store.Results to the api process that waits for it
//
// Type names and payload JSON are persisted in Redis: add fields, never
// rename or repurpose them. Task IDs are derived from the operation, file
// and range, so enqueuing a task twice is a no-op.
//
// # Retries
//
// Failures that retrying cannot fix (a missing object, a file that is not
// a PDF, an encrypted PDF, permission denied, an unsupported type) wrap
// asynq.SkipRetry and end the operation at once with an error whose
// google.rpc code fits and whose message names the file. Everything else is
// retried with asynq's backoff; when retries run out the operation ends with
// the error. With Handlers.FileErrors set to FileErrorsContinue, such a
// failure of a plan or range task ends only its file (or range): its output
// object carries the error and the operation goes on (see FileErrors).
// Results are idempotent: an output file is rewritten whole and
// completion is recorded in a set, so a task that runs twice changes
// nothing.
//
// # Cancellation
//
// Handlers check the operation between pages and drop the rest of a range
// once it is finished or cancelled; queued ranges of a finished operation
// are skipped without work.
package jobs
