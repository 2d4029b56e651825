// Package metrics defines Folio's Prometheus metrics and serves them.
//
// Each process builds its own registry ([NewRegistry]: the Go and process
// collectors, nothing global) and passes the metric sets it needs to the
// packages that record them: [Worker] to jobs.Handlers, [API] to the REST
// and gRPC servers of package api, and a [NewBacklogCollector] that reads
// the autoscaling signal from the operation store at scrape time. Tests
// build their own registries and read them with prometheus/testutil.
//
// # Metrics
//
// Every name starts with folio_ and carries its unit (_seconds, _bytes) or
// _total for counters. The worker serves:
//
//	folio_pages_processed_total{route}          counter    pages annotated, by route: text (the PDF's text layer) or ocr
//	folio_pages_failed_total{route}             counter    pages written as an error entry; route none: the page could not be read
//	folio_page_duration_seconds{route}          histogram  time to read and annotate one page (OCR: render and recognize)
//	folio_range_duration_seconds{task}          histogram  time of one task that did its work: a whole range (range), one unit of
//	                                                       a split range (unit), the merge of a split range's units (merge), or a
//	                                                       batch of an images operation (images)
//	folio_task_retries_total{task_type}         counter    tasks that failed and will be retried
//	folio_task_failures_total{task_type}        counter    tasks that failed for good (not retried)
//	folio_ocr_engines                           gauge      Tesseract engines (OCR_ENGINES)
//	folio_ocr_engines_busy                      gauge      engines recognizing a page now
//	folio_input_cache_requests_total{result}    counter    opens of an input file: hit (cached) or miss (downloaded)
//	folio_input_cache_fetched_bytes_total       counter    bytes downloaded into the input cache
//	folio_input_cache_bytes                     gauge      bytes the input cache holds
//	folio_janitor_actions_total{action}         counter    archived_task_reaped, operation_failed (of a reaped task), operation_resubmitted
//
// The api serves:
//
//	folio_api_requests_total{transport,method,code}         counter    calls by transport (rest, grpc), method (the gRPC method name,
//	                                                                   e.g. AsyncBatchAnnotateFiles, GetOperation; unknown for a REST path
//	                                                                   that is none) and google.rpc code (OK, NOT_FOUND, ...)
//	folio_api_request_duration_seconds{transport,method}    histogram  call latency
//	folio_pages_pending                                     gauge      pages planned but not completed (+1 per unplanned file of a running operation)
//	folio_operations{state}                                 gauge      unfinished operations by state: CREATED, RUNNING
//	folio_backlog_read_errors_total                         counter    scrapes that could not read the two gauges above
//
// and both the go_* and process_* metrics of client_golang's collectors.
//
// # Autoscaling
//
// folio_pages_pending and folio_operations come from the store's backlog
// (store.Backlog), which Redis keeps exact, so one scrape of the api gives
// the signal whatever the number of workers; every api replica reports the
// same values, so a query aggregates them with max, not sum. An operation
// is CREATED until a worker plans its first file: its pages are not known
// before, so a fleet scaled to zero must wake on
// folio_operations{state="CREATED"} > 0 too, not on pages pending alone. When Redis does not answer within the
// collector's timeout the two gauges are left out of the scrape (and
// folio_backlog_read_errors_total counts it) rather than reported as zero,
// which would read as "no work".
package metrics
