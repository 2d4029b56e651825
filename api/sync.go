package api

import (
	"context"
	"fmt"

	"cloud.google.com/go/vision/v2/apiv1/visionpb"

	"github.com/folio-ocr/folio/lang"
)

// Limits of the synchronous calls, Google's.
const (
	// MaxSyncFiles is how many file requests files:annotate takes: Google
	// supports only one.
	MaxSyncFiles = 1
	// MaxSyncPages is the most pages one files:annotate file request may
	// name.
	MaxSyncPages = 5
	// MaxSyncImages is the most images of one images:annotate call.
	MaxSyncImages = 16
	// MaxAsyncImages is the most images of one images:asyncBatchAnnotate
	// call, Google's limit.
	MaxAsyncImages = 2000
)

// SyncAnnotator runs synchronous calls, on the workers, so that the api
// stays free of OCR and scales on its own. It is satisfied by
// *jobs.SyncClient. Errors are *rpcerr.Error values naming what failed
// (DEADLINE_EXCEEDED when ctx ends first).
type SyncAnnotator interface {
	AnnotateFiles(ctx context.Context, req *visionpb.BatchAnnotateFilesRequest) (*visionpb.BatchAnnotateFilesResponse, error)
	AnnotateImages(ctx context.Context, req *visionpb.BatchAnnotateImagesRequest) (*visionpb.BatchAnnotateImagesResponse, error)
}

// BatchAnnotateFiles answers files:annotate: one file, given inline
// (inputConfig.content) or as a gs:// object, of which at most five pages
// (pages: 1-based, negative from the end; the first five when empty) are
// annotated and answered at once, with totalPages. The call waits for a
// worker until ctx's deadline.
func (s *Service) BatchAnnotateFiles(ctx context.Context, req *visionpb.BatchAnnotateFilesRequest) (*visionpb.BatchAnnotateFilesResponse, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	if s.sync == nil {
		return nil, unimplemented("files:annotate")
	}
	if err := validateFilesRequest(req, s.models); err != nil {
		return nil, err
	}
	if err := s.checkAccess(k, syncFilesAccesses(req.GetRequests())); err != nil {
		return nil, err
	}
	if err := s.checkPages(ctx, k, 0); err != nil {
		return nil, err
	}
	return s.sync.AnnotateFiles(ctx, req)
}

// BatchAnnotateImages answers images:annotate: up to 16 images, inline
// (image.content) or gs:// objects (image.source.gcsImageUri or imageUri),
// each JPEG, PNG, GIF (its first frame), BMP, WebP, ICO, or the first page
// of a PDF or TIFF. TEXT_DETECTION fills textAnnotations (the whole text,
// then one per word) and fullTextAnnotation; DOCUMENT_TEXT_DETECTION fills
// fullTextAnnotation; other features are answered per image with code 12.
func (s *Service) BatchAnnotateImages(ctx context.Context, req *visionpb.BatchAnnotateImagesRequest) (*visionpb.BatchAnnotateImagesResponse, error) {
	ctx, k, err := s.admit(ctx)
	if err != nil {
		return nil, err
	}
	if s.sync == nil {
		return nil, unimplemented("images:annotate")
	}
	if err := validateImagesRequest(req, s.models); err != nil {
		return nil, err
	}
	if err := s.checkAccess(k, imagesAccesses(req.GetRequests(), "")); err != nil {
		return nil, err
	}
	if err := s.checkPages(ctx, k, 0); err != nil {
		return nil, err
	}
	return s.sync.AnnotateImages(ctx, req)
}

// validateFilesRequest checks a files:annotate request: one file request
// whose input is inline content or a gs:// object of a supported type, at
// most MaxSyncPages pages none of them 0, features and language hints as
// for the asynchronous call.
func validateFilesRequest(req *visionpb.BatchAnnotateFilesRequest, models lang.Models) error {
	v := validator{models: models}
	if n := len(req.GetRequests()); n == 0 || n > MaxSyncFiles {
		v.add("requests", fmt.Sprintf("requests must contain exactly one file request, got %d", n))
		return v.err()
	}
	v.parent(req.GetParent())
	v.labels(req.GetLabels())
	for i, fr := range req.GetRequests() {
		path := fmt.Sprintf("requests[%d]", i)
		if fr == nil {
			v.add(path, path+" must not be null")
			continue
		}
		in := fr.GetInputConfig()
		content, uri := len(in.GetContent()) > 0, in.GetGcsSource().GetUri()
		switch {
		case in == nil:
			v.add(path+".inputConfig", path+".inputConfig is required")
		case content && uri != "":
			f := path + ".inputConfig"
			v.add(f, f+" must set either content or gcsSource.uri, not both")
		case !content && uri == "":
			f := path + ".inputConfig"
			v.add(f, f+" must set content (the file's bytes) or gcsSource.uri (a gs:// object)")
		case uri != "":
			if _, _, ok := splitGCSURI(uri); !ok {
				f := path + ".inputConfig.gcsSource.uri"
				v.add(f, fmt.Sprintf("%s must be a gs://bucket/object URI, got %q", f, uri))
			}
		}
		if in != nil {
			v.mimeType(path+".inputConfig.mimeType", in.GetMimeType())
		}
		v.features(path+".features", fr.GetFeatures())
		v.languageHints(path+".imageContext.languageHints", fr.GetImageContext().GetLanguageHints())
		if n := len(fr.GetPages()); n > MaxSyncPages {
			f := path + ".pages"
			v.add(f, fmt.Sprintf("%s may name at most %d pages, got %d", f, MaxSyncPages, n))
		}
		for j, p := range fr.GetPages() {
			if p == 0 {
				f := fmt.Sprintf("%s.pages[%d]", path, j)
				v.add(f, f+" must not be 0: pages are 1-based, and negative pages count from the end (-1 is the last)")
			}
		}
	}
	return v.err()
}

// validateImagesRequest checks an images:annotate request: 1 to
// MaxSyncImages images, each inline content or a gs:// object, features
// and language hints as for files.
func validateImagesRequest(req *visionpb.BatchAnnotateImagesRequest, models lang.Models) error {
	v := validator{models: models}
	if n := len(req.GetRequests()); n == 0 || n > MaxSyncImages {
		v.add("requests", fmt.Sprintf("requests must contain 1 to %d images, got %d", MaxSyncImages, n))
		return v.err()
	}
	v.parent(req.GetParent())
	v.labels(req.GetLabels())
	for i, ir := range req.GetRequests() {
		v.imageRequest(fmt.Sprintf("requests[%d]", i), ir)
	}
	return v.err()
}

// validateAsyncImagesRequest checks an images:asyncBatchAnnotate request:
// 1 to MaxAsyncImages images as for images:annotate, and an outputConfig
// as for files.
func validateAsyncImagesRequest(req *visionpb.AsyncBatchAnnotateImagesRequest, models lang.Models) error {
	v := validator{models: models}
	if n := len(req.GetRequests()); n == 0 || n > MaxAsyncImages {
		v.add("requests", fmt.Sprintf("requests must contain 1 to %d images, got %d", MaxAsyncImages, n))
		return v.err()
	}
	v.parent(req.GetParent())
	v.labels(req.GetLabels())
	for i, ir := range req.GetRequests() {
		v.imageRequest(fmt.Sprintf("requests[%d]", i), ir)
	}
	v.outputConfig("outputConfig", req.GetOutputConfig())
	return v.err()
}

// imageRequest validates the AnnotateImageRequest found at path: inline
// content or a gs:// source, not both; features; language hints.
func (v *validator) imageRequest(path string, ir *visionpb.AnnotateImageRequest) {
	if ir == nil {
		v.add(path, path+" must not be null")
		return
	}
	img := ir.GetImage()
	content := len(img.GetContent()) > 0
	src := img.GetSource()
	uris := 0
	for _, u := range []struct{ field, uri string }{{"gcsImageUri", src.GetGcsImageUri()}, {"imageUri", src.GetImageUri()}} {
		if u.uri == "" {
			continue
		}
		uris++
		if _, _, ok := splitGCSURI(u.uri); !ok {
			f := path + ".image.source." + u.field
			v.add(f, fmt.Sprintf("%s must be a gs://bucket/object URI (Folio does not fetch other URLs), got %q", f, u.uri))
		}
	}
	switch {
	case img == nil || !content && uris == 0:
		f := path + ".image"
		v.add(f, f+" must set content (the image's bytes) or source.gcsImageUri (a gs:// object)")
	case content && uris > 0:
		f := path + ".image"
		v.add(f, f+" must set either content or source, not both")
	}
	v.features(path+".features", ir.GetFeatures())
	v.languageHints(path+".imageContext.languageHints", ir.GetImageContext().GetLanguageHints())
}

// mimeType validates the inputConfig.mimeType found at path.
func (v *validator) mimeType(path, mt string) {
	switch {
	case mt == "":
		v.add(path, fmt.Sprintf("%s is required and must be one of %s", path, mimeList()))
	case !isSupportedMIMEType(mt):
		v.add(path, fmt.Sprintf("%s must be one of %s, got %q", path, mimeList(), mt))
	}
}

// parent validates a request's parent field, which may be empty.
func (v *validator) parent(p string) {
	if p == "" {
		return
	}
	if _, _, ok := parseParent(p); !ok {
		v.add("parent", fmt.Sprintf("parent must be projects/{project} or projects/{project}/locations/{location}, got %q", p))
	}
}
