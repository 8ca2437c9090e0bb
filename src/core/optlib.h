/* Optional libraries opened on first use.
 *
 * libxml2 (with ICU and libstdc++ behind it), libarchive (a dozen compression libraries) and
 * libevtx cost a process about 2 ms of CPU to map and relocate, while the commands most often run
 * one per process (enroll, probe, caps) use none of them. So they are not linked: each is opened
 * with dlopen by the first function that needs it, and the calls below go through pointers.
 *
 * Include this after <libxml/...>, <archive.h> and <libevtx.h>: it keeps their declarations and
 * turns each call into a call through the pointer of the same name. Code that starts using a
 * library (parses an XML document, opens an archive or an .evtx file) first calls
 * sceplab_optlib_need(), which opens it once (thread-safe) or says which library is missing. */
#ifndef SCEPLAB_OPTLIB_H
#define SCEPLAB_OPTLIB_H

#include "sceplab/error.h"

typedef enum { SCEPLAB_LIB_XML2, SCEPLAB_LIB_ARCHIVE, SCEPLAB_LIB_EVTX, SCEPLAB_LIB_COUNT } sceplab_optlib;

/* Opens lib if it is not open yet: 0, or -1 with err (SCEPLAB_E_FAILED, naming the file and why). */
int sceplab_optlib_need(sceplab_optlib lib, sceplab_error *err);

/* Tests and fuzz targets only: forgets every resolved pointer, as in a process that has not used
 * the libraries yet, so the paths taken before the first sceplab_optlib_need are exercised on
 * every input. The next need resolves again (the library itself stays mapped). Not thread-safe. */
void sceplab_optlib_forget(void);

/* The functions used, per library: X(name). The pointers are filled by sceplab_optlib_need. */
#define SCEPLAB_XML2_FUNCS(X)                                                                    \
  X(xmlReadMemory) X(xmlCtxtReadMemory) X(xmlNewParserCtxt) X(xmlFreeParserCtxt) X(xmlFreeDoc) \
  X(xmlDocGetRootElement) X(xmlGetLineNo) X(xmlGetProp) X(xmlNodeGetContent) X(xmlNodeListGetString)
#define SCEPLAB_ARCHIVE_FUNCS(X)                                                                   \
  X(archive_read_new) X(archive_read_free) X(archive_read_support_format_zip)                     \
  X(archive_read_support_filter_all) X(archive_read_open_filename) X(archive_read_next_header)     \
  X(archive_read_data) X(archive_error_string) X(archive_entry_pathname) X(archive_entry_filetype) \
  X(archive_entry_mtime) X(archive_entry_mtime_is_set) X(archive_entry_size) X(archive_entry_size_is_set)
#define SCEPLAB_EVTX_FUNCS(X)                                                                  \
  X(libevtx_file_initialize) X(libevtx_file_open) X(libevtx_file_close) X(libevtx_file_free) \
  X(libevtx_file_get_number_of_records) X(libevtx_file_get_record_by_index)                    \
  X(libevtx_record_free) X(libevtx_record_get_utf8_xml_string_size)                            \
  X(libevtx_record_get_utf8_xml_string) X(libevtx_error_free) X(libevtx_error_sprint)

#ifndef SCEPLAB_OPTLIB_IMPL
#define SCEPLAB_OPTLIB_DECLARE(f) extern __typeof__(f) *sceplab_optlib_##f;
#ifdef LIBXML_VERSION
SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_DECLARE)
/* xmlFree is a variable in libxml2 (a function pointer), read through its address. */
#ifdef LIBXML_THREAD_ALLOC_ENABLED
#error "libxml2 built with per-thread allocators: xmlFree is a function there, adapt optlib.h"
#endif
extern xmlFreeFunc *sceplab_optlib_xmlFree;
/* Releases may run on error paths before the library was needed (a document refused before
 * parsing): they do nothing then, and nothing for NULL, so cleanup code never calls through an
 * unresolved pointer. */
#define SCEPLAB_OPTLIB_RELEASE(ptr, arg) do { if(ptr && (arg)) (*ptr)(arg); } while(0)
#define xmlFree(p) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_xmlFree, p)
#define xmlReadMemory (*sceplab_optlib_xmlReadMemory)
#define xmlCtxtReadMemory (*sceplab_optlib_xmlCtxtReadMemory)
#define xmlNewParserCtxt (*sceplab_optlib_xmlNewParserCtxt)
#define xmlFreeParserCtxt(c) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_xmlFreeParserCtxt, c)
#define xmlFreeDoc(d) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_xmlFreeDoc, d)
#define xmlDocGetRootElement (*sceplab_optlib_xmlDocGetRootElement)
#define xmlGetLineNo (*sceplab_optlib_xmlGetLineNo)
#define xmlGetProp (*sceplab_optlib_xmlGetProp)
#define xmlNodeGetContent (*sceplab_optlib_xmlNodeGetContent)
#define xmlNodeListGetString (*sceplab_optlib_xmlNodeListGetString)
#endif
#ifdef ARCHIVE_VERSION_NUMBER
SCEPLAB_ARCHIVE_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define archive_read_new (*sceplab_optlib_archive_read_new)
#define archive_read_free(a) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_archive_read_free, a)
#define archive_read_support_format_zip (*sceplab_optlib_archive_read_support_format_zip)
#define archive_read_support_filter_all (*sceplab_optlib_archive_read_support_filter_all)
#define archive_read_open_filename (*sceplab_optlib_archive_read_open_filename)
#define archive_read_next_header (*sceplab_optlib_archive_read_next_header)
#define archive_read_data (*sceplab_optlib_archive_read_data)
#define archive_error_string (*sceplab_optlib_archive_error_string)
#define archive_entry_pathname (*sceplab_optlib_archive_entry_pathname)
#define archive_entry_filetype (*sceplab_optlib_archive_entry_filetype)
#define archive_entry_mtime (*sceplab_optlib_archive_entry_mtime)
#define archive_entry_mtime_is_set (*sceplab_optlib_archive_entry_mtime_is_set)
#define archive_entry_size (*sceplab_optlib_archive_entry_size)
#define archive_entry_size_is_set (*sceplab_optlib_archive_entry_size_is_set)
#endif
#ifdef LIBEVTX_VERSION
SCEPLAB_EVTX_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define libevtx_file_initialize (*sceplab_optlib_libevtx_file_initialize)
#define libevtx_file_open (*sceplab_optlib_libevtx_file_open)
#define libevtx_file_close (*sceplab_optlib_libevtx_file_close)
#define libevtx_file_free(f, e) do { if(sceplab_optlib_libevtx_file_free && *(f)) sceplab_optlib_libevtx_file_free(f, e); } while(0)
#define libevtx_file_get_number_of_records (*sceplab_optlib_libevtx_file_get_number_of_records)
#define libevtx_file_get_record_by_index (*sceplab_optlib_libevtx_file_get_record_by_index)
#define libevtx_record_free(r, e) do { if(sceplab_optlib_libevtx_record_free && *(r)) sceplab_optlib_libevtx_record_free(r, e); } while(0)
#define libevtx_record_get_utf8_xml_string_size (*sceplab_optlib_libevtx_record_get_utf8_xml_string_size)
#define libevtx_record_get_utf8_xml_string (*sceplab_optlib_libevtx_record_get_utf8_xml_string)
#define libevtx_error_free(e) do { if(sceplab_optlib_libevtx_error_free && *(e)) sceplab_optlib_libevtx_error_free(e); } while(0)
#define libevtx_error_sprint (*sceplab_optlib_libevtx_error_sprint)
#endif
#undef SCEPLAB_OPTLIB_DECLARE
#endif

#endif
