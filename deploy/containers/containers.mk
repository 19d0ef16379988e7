# Container images and the containerised stack (deploy/containers/README.md); included by
# the root Makefile.
IMAGE_TAG ?= dev
export IMAGE_TAG

.PHONY: images

images:
	deploy/containers/build-images.sh
