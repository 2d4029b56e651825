// Package progresspb is the generated Go code of proto/folio/v1/progress.proto:
// the folio.v1.Progress service, Folio's extension that reports how far an
// operation has got. Do not edit the .pb.go files; run `make proto`.
package progresspb

//go:generate protoc -I ../proto --go_out=.. --go_opt=module=github.com/folio-ocr/folio --go-grpc_out=.. --go-grpc_opt=module=github.com/folio-ocr/folio folio/v1/progress.proto
