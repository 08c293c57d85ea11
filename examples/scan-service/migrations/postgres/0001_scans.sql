-- scan-service schema (PostgreSQL). Unqualified names: the migration runs in whatever schema the
-- connection's search_path names first. Indexes exactly as seeds 000 section 1.1.
CREATE TABLE scans (
    id BIGSERIAL PRIMARY KEY,
    target TEXT NOT NULL,
    scan_type TEXT NOT NULL,
    status TEXT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE scan_results (
    id BIGSERIAL PRIMARY KEY,
    scan_id BIGINT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    severity TEXT NOT NULL,
    output TEXT NOT NULL
);

CREATE TABLE vulnerabilities (
    id BIGSERIAL PRIMARY KEY,
    scan_id BIGINT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    cve_id TEXT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL
);

-- Scans table indexes
CREATE INDEX idx_scans_target ON scans(target);
CREATE INDEX idx_scans_timestamp ON scans(timestamp DESC);
CREATE INDEX idx_scans_status ON scans(status);
CREATE INDEX idx_scans_target_timestamp ON scans(target, timestamp DESC);

-- Results table indexes
CREATE INDEX idx_results_scan_id ON scan_results(scan_id);
CREATE INDEX idx_results_severity ON scan_results(severity);

-- Vulnerabilities table indexes
CREATE INDEX idx_vulns_scan_id ON vulnerabilities(scan_id);
CREATE INDEX idx_vulns_severity ON vulnerabilities(severity);
CREATE INDEX idx_vulns_cve ON vulnerabilities(cve_id);

-- Composite indexes for common queries
CREATE INDEX idx_scans_target_status_timestamp
    ON scans(target, status, timestamp DESC);
