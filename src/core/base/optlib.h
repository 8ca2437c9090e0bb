/* Optional libraries opened on first use.
 *
 * libxml2 (with ICU and libstdc++ behind it), libarchive (a dozen compression libraries) and
 * libevtx cost a process about 2 ms of CPU to map and relocate, while the commands most often run
 * one per process (enroll, probe, caps) use none of them. SQLite and libevent (with its OpenSSL
 * bufferevents) serve `sceplab serve` and `sceplab ca` only: about 1 ms more, opened the same way.
 * Debian's libcurl is the dearest of all: 32 shared libraries behind it (GnuTLS, Kerberos, LDAP,
 * RTMP, SSH, ...), about 5 ms of CPU per process, paid by `decode`, `timeline` and `--version` too
 * while only the commands that talk HTTP use it. So none of them is linked: each is opened with
 * dlopen by the first function that needs it, and the calls below go through pointers.
 *
 * Include this after <libxml/...>, <archive.h>, <libevtx.h> and <libpq-fe.h>: it keeps their declarations and
 * turns each call into a call through the pointer of the same name. Code that starts using a
 * library (parses an XML document, opens an archive or an .evtx file) first calls
 * sceplab_optlib_need(), which opens it once (thread-safe) or says which library is missing. */
#ifndef SCEPLAB_OPTLIB_H
#define SCEPLAB_OPTLIB_H

#include "sceplab/error.h"

typedef enum {
  SCEPLAB_LIB_XML2, SCEPLAB_LIB_ARCHIVE, SCEPLAB_LIB_EVTX, SCEPLAB_LIB_SQLITE, SCEPLAB_LIB_EVENT, SCEPLAB_LIB_EVENT_SSL,
  SCEPLAB_LIB_CURL, SCEPLAB_LIB_PQ, SCEPLAB_LIB_COUNT
} sceplab_optlib;

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
  X(archive_entry_mtime) X(archive_entry_mtime_is_set) X(archive_entry_size) X(archive_entry_size_is_set) \
  X(archive_write_new) X(archive_write_free) X(archive_write_set_format_zip) X(archive_write_open_filename) \
  X(archive_write_header) X(archive_write_data) X(archive_write_close) X(archive_entry_new) X(archive_entry_free) \
  X(archive_entry_set_pathname) X(archive_entry_set_size) X(archive_entry_set_filetype) X(archive_entry_set_perm) \
  X(archive_entry_set_mtime) X(archive_read_support_format_cab) X(archive_read_open_fd) X(archive_filter_bytes) \
  X(archive_entry_pathname_utf8)
#define SCEPLAB_EVTX_FUNCS(X)                                                                  \
  X(libevtx_file_initialize) X(libevtx_file_open) X(libevtx_file_close) X(libevtx_file_free) \
  X(libevtx_file_get_number_of_records) X(libevtx_file_get_record_by_index)                    \
  X(libevtx_record_free) X(libevtx_record_get_utf8_xml_string_size)                            \
  X(libevtx_record_get_utf8_xml_string) X(libevtx_error_free) X(libevtx_error_sprint)

#define SCEPLAB_SQLITE_FUNCS(X) \
  X(sqlite3_open_v2) X(sqlite3_close) X(sqlite3_errmsg) X(sqlite3_busy_timeout) X(sqlite3_exec) \
  X(sqlite3_prepare_v2) X(sqlite3_bind_text) X(sqlite3_bind_int64) X(sqlite3_bind_int) \
  X(sqlite3_bind_blob) X(sqlite3_step) X(sqlite3_finalize) X(sqlite3_column_text) \
  X(sqlite3_column_blob) X(sqlite3_column_bytes) X(sqlite3_column_int64) X(sqlite3_column_int) \
  X(sqlite3_column_type) X(sqlite3_changes) X(sqlite3_reset) X(sqlite3_bind_null) X(sqlite3_last_insert_rowid) \
  X(sqlite3_prepare_v3) X(sqlite3_sql) X(sqlite3_clear_bindings) X(sqlite3_wal_hook) X(sqlite3_file_control) \
  X(sqlite3_wal_checkpoint_v2)
#define SCEPLAB_EVENT_FUNCS(X) \
  X(event_base_new) X(event_base_free) X(event_base_dispatch) X(event_base_loopbreak) X(event_new) \
  X(event_add) X(event_del) X(event_free) X(evconnlistener_new) X(evconnlistener_free) \
  X(evconnlistener_enable) X(evconnlistener_disable) X(evconnlistener_set_error_cb) \
  X(bufferevent_socket_new) X(bufferevent_free) X(bufferevent_setcb) X(bufferevent_enable) \
  X(bufferevent_disable) X(bufferevent_get_input) X(bufferevent_get_output) \
  X(bufferevent_setwatermark) X(bufferevent_getfd) X(evbuffer_new) X(evbuffer_free) X(evbuffer_add) \
  X(evbuffer_get_length) X(evbuffer_pullup) X(evbuffer_remove) X(evbuffer_drain) \
  X(evbuffer_remove_buffer) X(evbuffer_search_eol) X(evbuffer_ptr_set) X(evhttp_uri_parse) \
  X(evhttp_uri_get_path) X(evhttp_uri_get_query) X(evhttp_uri_free) X(evhttp_parse_query_str) \
  X(evhttp_find_header) X(evhttp_clear_headers) X(evhttp_uridecode) X(event_base_priority_init) X(event_priority_set) \
  X(event_get_fd)
#define SCEPLAB_EVENT_SSL_FUNCS(X) \
  X(bufferevent_openssl_socket_new) X(bufferevent_openssl_set_allow_dirty_shutdown)
#define SCEPLAB_CURL_FUNCS(X) \
  X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset) X(curl_easy_setopt) X(curl_easy_getinfo) \
  X(curl_easy_perform) X(curl_easy_strerror) X(curl_slist_append) X(curl_slist_free_all) X(curl_version_info)

/* libpq: the PostgreSQL store (ca/store_pg.c), only with `--db postgresql://...` */
#define SCEPLAB_PQ_FUNCS(X) \
  X(PQconnectdbParams) X(PQstatus) X(PQfinish) X(PQreset) X(PQerrorMessage) X(PQexec) X(PQexecParams) \
  X(PQresultStatus) X(PQresultErrorField) X(PQresultErrorMessage) X(PQclear) X(PQntuples) X(PQgetvalue) \
  X(PQgetisnull) X(PQgetlength) X(PQcmdTuples) X(PQunescapeBytea) X(PQfreemem) X(PQlibVersion) \
  X(PQtransactionStatus) X(PQsetNoticeProcessor) X(PQdb) X(PQhost) X(PQport)

#ifndef SCEPLAB_OPTLIB_IMPL
#define SCEPLAB_OPTLIB_DECLARE(f) extern __typeof__(f) *sceplab_optlib_##f;
/* Releases may run on error paths before the library was needed (a document refused before
 * parsing): they do nothing then, and nothing for NULL, so cleanup code never calls through an
 * unresolved pointer. */
#define SCEPLAB_OPTLIB_RELEASE(ptr, arg) do { if(ptr && (arg)) (*ptr)(arg); } while(0)
#ifdef LIBXML_VERSION
SCEPLAB_XML2_FUNCS(SCEPLAB_OPTLIB_DECLARE)
/* xmlFree is a variable in libxml2 (a function pointer), read through its address. */
#ifdef LIBXML_THREAD_ALLOC_ENABLED
#error "libxml2 built with per-thread allocators: xmlFree is a function there, adapt optlib.h"
#endif
extern xmlFreeFunc *sceplab_optlib_xmlFree;
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
#define archive_write_new (*sceplab_optlib_archive_write_new)
#define archive_write_free(a) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_archive_write_free, a)
#define archive_write_set_format_zip (*sceplab_optlib_archive_write_set_format_zip)
#define archive_write_open_filename (*sceplab_optlib_archive_write_open_filename)
#define archive_write_header (*sceplab_optlib_archive_write_header)
#define archive_write_data (*sceplab_optlib_archive_write_data)
#define archive_write_close (*sceplab_optlib_archive_write_close)
#define archive_entry_new (*sceplab_optlib_archive_entry_new)
#define archive_entry_free(e) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_archive_entry_free, e)
#define archive_entry_set_pathname (*sceplab_optlib_archive_entry_set_pathname)
#define archive_entry_set_size (*sceplab_optlib_archive_entry_set_size)
#define archive_entry_set_filetype (*sceplab_optlib_archive_entry_set_filetype)
#define archive_entry_set_perm (*sceplab_optlib_archive_entry_set_perm)
#define archive_entry_set_mtime (*sceplab_optlib_archive_entry_set_mtime)
#define archive_read_support_format_cab (*sceplab_optlib_archive_read_support_format_cab)
#define archive_read_open_fd (*sceplab_optlib_archive_read_open_fd)
#define archive_filter_bytes (*sceplab_optlib_archive_filter_bytes)
#define archive_entry_pathname_utf8 (*sceplab_optlib_archive_entry_pathname_utf8)
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
#ifdef SQLITE_VERSION
SCEPLAB_SQLITE_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define sqlite3_open_v2 (*sceplab_optlib_sqlite3_open_v2)
#define sqlite3_close(x) (sceplab_optlib_sqlite3_close && (x) ? sceplab_optlib_sqlite3_close(x) : 0)
#define sqlite3_errmsg (*sceplab_optlib_sqlite3_errmsg)
#define sqlite3_busy_timeout (*sceplab_optlib_sqlite3_busy_timeout)
#define sqlite3_exec (*sceplab_optlib_sqlite3_exec)
#define sqlite3_prepare_v2 (*sceplab_optlib_sqlite3_prepare_v2)
#define sqlite3_bind_text (*sceplab_optlib_sqlite3_bind_text)
#define sqlite3_bind_int64 (*sceplab_optlib_sqlite3_bind_int64)
#define sqlite3_bind_int (*sceplab_optlib_sqlite3_bind_int)
#define sqlite3_bind_blob (*sceplab_optlib_sqlite3_bind_blob)
#define sqlite3_step (*sceplab_optlib_sqlite3_step)
#define sqlite3_finalize(x) (sceplab_optlib_sqlite3_finalize && (x) ? sceplab_optlib_sqlite3_finalize(x) : 0)
#define sqlite3_column_text (*sceplab_optlib_sqlite3_column_text)
#define sqlite3_column_blob (*sceplab_optlib_sqlite3_column_blob)
#define sqlite3_column_bytes (*sceplab_optlib_sqlite3_column_bytes)
#define sqlite3_column_int64 (*sceplab_optlib_sqlite3_column_int64)
#define sqlite3_column_int (*sceplab_optlib_sqlite3_column_int)
#define sqlite3_column_type (*sceplab_optlib_sqlite3_column_type)
#define sqlite3_changes (*sceplab_optlib_sqlite3_changes)
#define sqlite3_reset (*sceplab_optlib_sqlite3_reset)
#define sqlite3_bind_null (*sceplab_optlib_sqlite3_bind_null)
#define sqlite3_last_insert_rowid (*sceplab_optlib_sqlite3_last_insert_rowid)
#define sqlite3_prepare_v3 (*sceplab_optlib_sqlite3_prepare_v3)
#define sqlite3_sql (*sceplab_optlib_sqlite3_sql)
#define sqlite3_clear_bindings (*sceplab_optlib_sqlite3_clear_bindings)
#define sqlite3_wal_hook (*sceplab_optlib_sqlite3_wal_hook)
#define sqlite3_file_control (*sceplab_optlib_sqlite3_file_control)
#define sqlite3_wal_checkpoint_v2 (*sceplab_optlib_sqlite3_wal_checkpoint_v2)
#endif
#if defined(EVENT2_EVENT_H_INCLUDED_) && defined(EVENT2_HTTP_H_INCLUDED_) && defined(EVENT2_BUFFER_H_INCLUDED_) && \
    defined(EVENT2_BUFFEREVENT_H_INCLUDED_) && defined(EVENT2_LISTENER_H_INCLUDED_)
SCEPLAB_EVENT_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define event_base_new (*sceplab_optlib_event_base_new)
#define event_base_free (*sceplab_optlib_event_base_free)
#define event_base_dispatch (*sceplab_optlib_event_base_dispatch)
#define event_base_loopbreak (*sceplab_optlib_event_base_loopbreak)
#define event_new (*sceplab_optlib_event_new)
#define event_add (*sceplab_optlib_event_add)
#define event_del (*sceplab_optlib_event_del)
#define event_free (*sceplab_optlib_event_free)
#define event_base_priority_init (*sceplab_optlib_event_base_priority_init)
#define event_priority_set (*sceplab_optlib_event_priority_set)
#define event_get_fd (*sceplab_optlib_event_get_fd)
#define evconnlistener_new (*sceplab_optlib_evconnlistener_new)
#define evconnlistener_free (*sceplab_optlib_evconnlistener_free)
#define evconnlistener_enable (*sceplab_optlib_evconnlistener_enable)
#define evconnlistener_disable (*sceplab_optlib_evconnlistener_disable)
#define evconnlistener_set_error_cb (*sceplab_optlib_evconnlistener_set_error_cb)
#define bufferevent_socket_new (*sceplab_optlib_bufferevent_socket_new)
#define bufferevent_free (*sceplab_optlib_bufferevent_free)
#define bufferevent_setcb (*sceplab_optlib_bufferevent_setcb)
#define bufferevent_enable (*sceplab_optlib_bufferevent_enable)
#define bufferevent_disable (*sceplab_optlib_bufferevent_disable)
#define bufferevent_get_input (*sceplab_optlib_bufferevent_get_input)
#define bufferevent_get_output (*sceplab_optlib_bufferevent_get_output)
#define bufferevent_setwatermark (*sceplab_optlib_bufferevent_setwatermark)
#define bufferevent_getfd (*sceplab_optlib_bufferevent_getfd)
#define evbuffer_new (*sceplab_optlib_evbuffer_new)
#define evbuffer_free (*sceplab_optlib_evbuffer_free)
#define evbuffer_add (*sceplab_optlib_evbuffer_add)
#define evbuffer_get_length (*sceplab_optlib_evbuffer_get_length)
#define evbuffer_pullup (*sceplab_optlib_evbuffer_pullup)
#define evbuffer_remove (*sceplab_optlib_evbuffer_remove)
#define evbuffer_drain (*sceplab_optlib_evbuffer_drain)
#define evbuffer_remove_buffer (*sceplab_optlib_evbuffer_remove_buffer)
#define evbuffer_search_eol (*sceplab_optlib_evbuffer_search_eol)
#define evbuffer_ptr_set (*sceplab_optlib_evbuffer_ptr_set)
#define evhttp_uri_parse (*sceplab_optlib_evhttp_uri_parse)
#define evhttp_uri_get_path (*sceplab_optlib_evhttp_uri_get_path)
#define evhttp_uri_get_query (*sceplab_optlib_evhttp_uri_get_query)
#define evhttp_uri_free (*sceplab_optlib_evhttp_uri_free)
#define evhttp_parse_query_str (*sceplab_optlib_evhttp_parse_query_str)
#define evhttp_find_header (*sceplab_optlib_evhttp_find_header)
#define evhttp_clear_headers (*sceplab_optlib_evhttp_clear_headers)
#define evhttp_uridecode (*sceplab_optlib_evhttp_uridecode)
#endif
#ifdef EVENT2_BUFFEREVENT_SSL_H_INCLUDED_
SCEPLAB_EVENT_SSL_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define bufferevent_openssl_socket_new (*sceplab_optlib_bufferevent_openssl_socket_new)
#define bufferevent_openssl_set_allow_dirty_shutdown (*sceplab_optlib_bufferevent_openssl_set_allow_dirty_shutdown)
#endif
#ifdef CURLINC_CURL_H
/* curl.h's type-checking macros call the functions by name: include it with CURL_DISABLE_TYPECHECK. */
#ifndef CURL_DISABLE_TYPECHECK
#error "include <curl/curl.h> with CURL_DISABLE_TYPECHECK defined before optlib.h"
#endif
SCEPLAB_CURL_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define curl_easy_init (*sceplab_optlib_curl_easy_init)
#define curl_easy_cleanup(c) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_curl_easy_cleanup, c)
#define curl_easy_reset (*sceplab_optlib_curl_easy_reset)
#undef curl_easy_setopt  /* curl.h's pass-through definitions */
#undef curl_easy_getinfo
#define curl_easy_setopt (*sceplab_optlib_curl_easy_setopt)
#define curl_easy_getinfo (*sceplab_optlib_curl_easy_getinfo)
#define curl_easy_perform (*sceplab_optlib_curl_easy_perform)
#define curl_easy_strerror (*sceplab_optlib_curl_easy_strerror)
#define curl_slist_append (*sceplab_optlib_curl_slist_append)
#define curl_slist_free_all(l) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_curl_slist_free_all, l)
#define curl_version_info (*sceplab_optlib_curl_version_info)
#endif
#ifdef LIBPQ_FE_H
SCEPLAB_PQ_FUNCS(SCEPLAB_OPTLIB_DECLARE)
#define PQconnectdbParams (*sceplab_optlib_PQconnectdbParams)
#define PQstatus (*sceplab_optlib_PQstatus)
#define PQfinish(c) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_PQfinish, c)
#define PQreset (*sceplab_optlib_PQreset)
#define PQerrorMessage (*sceplab_optlib_PQerrorMessage)
#define PQexec (*sceplab_optlib_PQexec)
#define PQexecParams (*sceplab_optlib_PQexecParams)
#define PQresultStatus (*sceplab_optlib_PQresultStatus)
#define PQresultErrorField (*sceplab_optlib_PQresultErrorField)
#define PQresultErrorMessage (*sceplab_optlib_PQresultErrorMessage)
#define PQclear(r) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_PQclear, r)
#define PQntuples (*sceplab_optlib_PQntuples)
#define PQgetvalue (*sceplab_optlib_PQgetvalue)
#define PQgetisnull (*sceplab_optlib_PQgetisnull)
#define PQgetlength (*sceplab_optlib_PQgetlength)
#define PQcmdTuples (*sceplab_optlib_PQcmdTuples)
#define PQunescapeBytea (*sceplab_optlib_PQunescapeBytea)
#define PQfreemem(p) SCEPLAB_OPTLIB_RELEASE(sceplab_optlib_PQfreemem, p)
#define PQlibVersion (*sceplab_optlib_PQlibVersion)
#define PQtransactionStatus (*sceplab_optlib_PQtransactionStatus)
#define PQsetNoticeProcessor (*sceplab_optlib_PQsetNoticeProcessor)
#define PQdb (*sceplab_optlib_PQdb)
#define PQhost (*sceplab_optlib_PQhost)
#define PQport (*sceplab_optlib_PQport)
#endif
#undef SCEPLAB_OPTLIB_DECLARE
#endif

#endif
